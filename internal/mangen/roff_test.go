package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/alecthomas/kong"

	"github.com/refresh-token/refresh-token/cli"
	"github.com/refresh-token/refresh-token/internal/exit"
)

type toyCLI struct {
	Name    []string `placeholder:"NAME" env:"TOY_NAME" help:"Who to greet; repeat for several."`
	Level   string   `default:"info" enum:"debug,info" help:"Log level."`
	Secret  string   `hidden:"" help:"Never shown."`
	Greet   greetCmd `cmd:"" default:"withargs" help:"Greet someone."`
	Debug   struct{} `cmd:"" hidden:"" help:"A hidden command."`
	Version bool     `help:"Print the version."`
}

type greetCmd struct {
	Loud bool   `short:"l" help:"Shout."`
	Whom string `arg:"" optional:"" help:"Whom."`
}

const toyHelp = `Greet people politely. A second sentence.

.leading dots must not become requests, nor must back\slashes.

Exit codes:
  0   greeted
  75  try again later`

func toyModel(t *testing.T, help string) *kong.Application {
	t.Helper()
	var cli toyCLI
	k, err := kong.New(&cli, kong.Name("toy"), kong.Description(help))
	if err != nil {
		t.Fatal(err)
	}
	return k.Model
}

func render(t *testing.T, app *kong.Application) string {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, app, Page{Section: "1", Version: "v1", Date: "2026-01-02"}); err != nil {
		t.Fatal(err)
	}
	lint(t, b.String())
	return b.String()
}

// lint runs the page through groff with all warnings, when groff is there.
func lint(t *testing.T, page string) {
	t.Helper()
	groff, err := exec.LookPath("groff")
	if err != nil {
		return
	}
	cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z")
	cmd.Stdin = strings.NewReader(page)
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("groff -ww: %v\n%s", err, out)
	}
}

func TestRenderToy(t *testing.T) {
	page := render(t, toyModel(t, toyHelp))
	for _, want := range []string{
		`.TH "TOY" "1" "2026\-01\-02" "toy v1" "User Commands"`,
		"toy \\- greet people politely\n",
		"A second sentence.",
		`\&.leading dots`,
		`back\eslashes`,
		`\fBtoy\fR [\fIflags\fR] [\fBgreet\fR] [\fIgreet flags\fR] [\fIwhom\fR]`,
		`\fB\-\-name\fR=\fINAME,...\fR`,
		"Environment: \\fBTOY_NAME\\fR",
		`\fB\-\-level\fR=\fIdebug|info\fR`,
		"Log level. Default: info.",
		`\fB\-l\fR, \fB\-\-loud\fR`,
		".SS \"Options of greet\"",
		".SH \"EXIT STATUS\"\n.TP\n.B 0\ngreeted\n.TP\n.B 75\ntry again later\n",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	for _, absent := range []string{"secret", "Never shown", "hidden command", "Exit codes"} {
		if strings.Contains(strings.ToLower(page), strings.ToLower(absent)) {
			t.Errorf("page shows %q:\n%s", absent, page)
		}
	}
	// Every request line is a macro the man package knows.
	for _, l := range strings.Split(page, "\n") {
		if strings.HasPrefix(l, ".") && !regexp.MustCompile(`^\.(TH|SH|SS|TP|PP|B|br|nf|fi|nh|ad) ?`).MatchString(l) {
			t.Errorf("unexpected request %q", l)
		}
	}
}

func TestRenderNeedsExitCodes(t *testing.T) {
	err := Render(&bytes.Buffer{}, toyModel(t, "Greet people."), Page{})
	if err == nil || !strings.Contains(err.Error(), "Exit codes") {
		t.Fatalf("err = %v, want a missing exit code table", err)
	}
}

// TestRefreshTokenPage checks the real page against the real command line:
// every visible command and flag, every variable and every exit code is in
// it, so a flag added without help text or an exit code dropped from the
// description shows up here.
func TestRefreshTokenPage(t *testing.T) {
	app, err := cli.Model(cli.Build{Version: "test", DocDir: "/opt/docs"})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Render(&b, app, Page{Section: "1", Version: "test", Extra: refreshTokenExtra("/opt/docs")}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	lint(t, page)
	for _, want := range []string{`.SH "EXAMPLES"`, esc("systemctl enable --now refresh-token.timer"), esc("ssh -L 8182:127.0.0.1:8182"), esc("refresh-token status --json"),
		esc("/opt/docs/BOT.md"), esc("/opt/docs/status.md"), esc("In /opt/docs: README.md")} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}

	nodes := append([]*kong.Node{app.Node}, commands(app.Node)...)
	if len(nodes) < 3 {
		t.Fatalf("only %d commands in the model", len(nodes)-1)
	}
	for _, n := range nodes {
		if n != app.Node && !strings.Contains(page, `\fB`+esc(n.Path())+`\fR`) {
			t.Errorf("command %s missing", n.Path())
		}
		for _, f := range visibleFlags(n) {
			if f.Help == "" {
				t.Errorf("flag --%s has no help text", f.Name)
			}
			if !strings.Contains(page, `\fB\-\-`+esc(f.Name)+`\fR`) {
				t.Errorf("flag --%s missing", f.Name)
			}
			for _, env := range f.Envs {
				if !strings.Contains(page, esc(env)) {
					t.Errorf("variable %s of --%s missing", env, f.Name)
				}
			}
		}
	}
	for _, code := range []int{exit.OK, exit.Usage, exit.Data, exit.NoInput,
		exit.Software, exit.CantCreate, exit.TempFail, exit.NoPerm, exit.Config} {
		if !regexp.MustCompile(`(?m)^\.B ` + strconv.Itoa(code) + `$`).MatchString(page) {
			t.Errorf("exit code %d missing from EXIT STATUS", code)
		}
	}
	for _, s := range []string{"NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "OPTIONS", "EXIT STATUS", "ENVIRONMENT", "FILES", "SEE ALSO"} {
		if !strings.Contains(page, `.SH "`+s+`"`) {
			t.Errorf("section %s missing", s)
		}
	}
	// Each exit code table says which commands it is for, and status's
	// paragraphs stay inside its item (.IP), not after it (.PP), where
	// they would read as if they applied to every command.
	section := func(name string) string {
		_, rest, _ := strings.Cut(page, `.SH "`+name+`"`)
		body, _, _ := strings.Cut(rest, ".SH ")
		return body
	}
	if !strings.HasPrefix(section("EXIT STATUS"), "\nExit codes of run, deliver and login") {
		t.Errorf("EXIT STATUS does not say which commands it is for:\n%s", section("EXIT STATUS"))
	}
	if c := section("COMMANDS"); !strings.Contains(c, "Exit codes of status:") || strings.Contains(c, ".PP") {
		t.Errorf("COMMANDS: status's exit codes unnamed or out of its item:\n%s", c)
	}
	if !strings.Contains(section("EXIT STATUS"), "66\ntoken file or app config not found or not readable") {
		t.Error("exit 66 is not named \"not found or not readable\"")
	}
	for _, f := range []string{`configs/schwab_tokens.json`, `configs/schwab_app_config.yaml`, `logs/token_refresh_sender.log`, `<token-file>.lock`} {
		if !strings.Contains(section("FILES"), ".B "+esc(f)+"\n") {
			t.Errorf("FILES lacks %s", f)
		}
	}
}

func TestRun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "refresh-token.1")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-version", "v9", "-date", "2026-01-02", "-o", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte(`.TH "REFRESH\-TOKEN" "1" "2026\-01\-02" "refresh\-token v9"`)) {
		t.Errorf("page starts with %q", data[:min(len(data), 80)])
	}
	if code := run([]string{"extra"}, &stdout, &stderr); code != 64 {
		t.Errorf("stray argument: exit %d, want 64", code)
	}
}
