package cli

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/store"
)

// A flag on the command line beats its environment variable, which beats
// the default.
func TestFlagPrecedence(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want func(*CLI) any
		val  any
	}{
		{"default", nil, nil, func(c *CLI) any { return c.TokenFile }, "configs/schwab_tokens.json"},
		{"env", nil, map[string]string{"REFRESH_TOKEN_TOKEN_FILE": "/e.json"}, func(c *CLI) any { return c.TokenFile }, "/e.json"},
		{"flag beats env", []string{"--token-file=/f.json"}, map[string]string{"REFRESH_TOKEN_TOKEN_FILE": "/e.json"}, func(c *CLI) any { return c.TokenFile }, "/f.json"},
		{"run flag from env", nil, map[string]string{"REFRESH_TOKEN_IF_EXPIRES_WITHIN": "10m"}, func(c *CLI) any { return c.Run.IfExpiresWithin }, 10 * time.Minute},
		{"run flag beats env", []string{"--if-expires-within=1m"}, map[string]string{"REFRESH_TOKEN_IF_EXPIRES_WITHIN": "10m"}, func(c *CLI) any { return c.Run.IfExpiresWithin }, time.Minute},
		{"http timeout env name", nil, map[string]string{"REFRESH_TOKEN_HTTP_TIMEOUT": "3s"}, func(c *CLI) any { return c.Run.HTTPTimeout }, 3 * time.Second},
		{"sockets from env", nil, map[string]string{"REFRESH_TOKEN_SOCKET": "/a.sock,/b.sock"}, func(c *CLI) any { return c.Run.Socket }, []string{"/a.sock", "/b.sock"}},
		{"sockets repeated", []string{"--socket=/a", "--socket=/b"}, map[string]string{"REFRESH_TOKEN_SOCKET": "/e"}, func(c *CLI) any { return c.Run.Socket }, []string{"/a", "/b"}},
		{"trust uids", []string{"--trust-uid=1000", "--trust-uid=1001"}, nil, func(c *CLI) any { return c.Run.TrustUID }, []int{1000, 1001}},
		{"bool env", nil, map[string]string{"REFRESH_TOKEN_FORCE": "true"}, func(c *CLI) any { return c.Run.Force }, true},
		{"empty log file disables", []string{"--log-file="}, map[string]string{"REFRESH_TOKEN_LOG_FILE": "/x.log"}, func(c *CLI) any { return c.Run.LogFile }, ""},
		{"global flag after command", []string{"deliver", "--token-file=/d.json"}, nil, func(c *CLI) any { return c.TokenFile }, "/d.json"},
		// The flags a command shares with others keep their variables.
		{"deliver socket from env", []string{"deliver"}, map[string]string{"REFRESH_TOKEN_SOCKET": "/d.sock"}, func(c *CLI) any { return c.Deliver.Socket }, []string{"/d.sock"}},
		{"deliver retries from env", []string{"deliver"}, map[string]string{"REFRESH_TOKEN_RETRIES": "7"}, func(c *CLI) any { return c.Deliver.Retries }, 7},
		{"deliver log file from env", []string{"deliver"}, map[string]string{"REFRESH_TOKEN_LOG_FILE": "/d.log"}, func(c *CLI) any { return c.Deliver.LogFile }, "/d.log"},
		{"run require delivery from env", []string{"run"}, map[string]string{"REFRESH_TOKEN_REQUIRE_DELIVERY": "true"}, func(c *CLI) any { return c.Run.RequireDelivery }, true},
		{"status socket from env", []string{"status"}, map[string]string{"REFRESH_TOKEN_SOCKET": "/s.sock"}, func(c *CLI) any { return c.Status.Socket }, []string{"/s.sock"}},
		{"status timeout flag beats env", []string{"status", "--socket-timeout=2s"}, map[string]string{"REFRESH_TOKEN_SOCKET_TIMEOUT": "9s"}, func(c *CLI) any { return c.Status.SocketTimeout }, 2 * time.Second},
		// A run-only variable in the shared environment file does not
		// break status.
		{"status ignores run variables", []string{"status"}, map[string]string{"REFRESH_TOKEN_RETRIES": "7", "REFRESH_TOKEN_LOG_FILE": "/x.log"}, func(c *CLI) any { return c.Status.Socket }, []string{"/tmp/bigbrother_token.sock"}},
		// Run's flags before the command name, as the old crontab line
		// and the default command allow.
		{"run flags without the command", []string{"--log-file=/l.log", "--socket=/r.Sock", "--if-expires-within=10m"}, nil, func(c *CLI) any { return []any{c.Run.LogFile, c.Run.Socket, c.Run.IfExpiresWithin} }, []any{"/l.log", []string{"/r.Sock"}, 10 * time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var cli CLI
			p, err := newParser(&cli, Build{}, io.Discard, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.val, tt.want(&cli)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestMainUsageAndVersion(t *testing.T) {
	tests := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"--version"}, 0, "refresh-token 1.2.3 (commit abc, go", ""},
		{[]string{"--help"}, 0, "Exit codes of run, deliver and login (sysexits", ""},
		{[]string{"--help"}, 0, "66  token file or app config not found or not readable", ""},
		{[]string{"run", "--help"}, 0, "--if-expires-within", ""},
		{[]string{"--bogus"}, 64, "", "refresh-token: error: unknown flag --bogus"},
		{[]string{"--log-level=loud"}, 64, "", "refresh-token: error:"},
		{[]string{"--http-timeout=soon"}, 64, "", "refresh-token: error:"},
		{[]string{"deliver", "--force"}, 64, "", "refresh-token: error:"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := Main(Build{Version: "v1.2.3", Commit: "abc"}, tt.args, &out, &errb)
		if code != tt.code || !strings.Contains(out.String(), tt.stdout) || !strings.Contains(errb.String(), tt.stderr) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", tt.args, code, out.String(), errb.String())
		}
	}
}

// Each command's --help lists the flags it reads and no other: status
// neither delivers nor keeps a log file.
func TestHelpListsOwnFlags(t *testing.T) {
	tests := []struct {
		cmd        string
		has, lacks []string
	}{
		{"status", []string{"--token-file", "--socket=", "--socket-timeout", "--trust-uid", "--json"},
			[]string{"--retries", "--retry-delay", "--require-delivery", "--log-file", "--force", "--app-config"}},
		{"deliver", []string{"--token-file", "--socket=", "--retries", "--retry-delay", "--require-delivery", "--log-file"},
			[]string{"--force", "--app-config", "--json", "--metrics-file"}},
		{"run", []string{"--token-file", "--socket=", "--retries", "--require-delivery", "--log-file", "--force", "--app-config", "--metrics-file"},
			[]string{"--json"}},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		if code := Main(Build{}, []string{tt.cmd, "--help"}, &out, io.Discard); code != 0 {
			t.Fatalf("%s --help: exit %d", tt.cmd, code)
		}
		for _, f := range tt.has {
			if !strings.Contains(out.String(), f) {
				t.Errorf("%s --help lacks %s", tt.cmd, f)
			}
		}
		for _, f := range tt.lacks {
			if strings.Contains(out.String(), f) {
				t.Errorf("%s --help lists %s", tt.cmd, f)
			}
		}
	}
}

// A bad flag's hint names the --help that lists it.
func TestUsageHintNamesCommand(t *testing.T) {
	for _, tt := range []struct {
		args []string
		hint string
	}{
		{[]string{"--http-timeout=soon"}, "see 'refresh-token run --help'"},
		{[]string{"--retries=x"}, "see 'refresh-token run --help'"},
		{[]string{"run", "--bogus"}, "see 'refresh-token run --help'"},
		{[]string{"status", "--retries=2"}, "see 'refresh-token status --help'"},
		{[]string{"--retries=2", "status"}, "see 'refresh-token run --help'"},
		{[]string{"--socket=/s", "status"}, "give --socket after the command: 'refresh-token status --socket ...'"},
		{[]string{"deliver", "--force"}, "see 'refresh-token deliver --help'"},
		{[]string{"nosuchcommand", "x"}, "see 'refresh-token --help'"},
	} {
		var errb bytes.Buffer
		code := Main(Build{}, tt.args, io.Discard, &errb)
		if code != exit.Usage || !strings.Contains(errb.String(), "refresh-token: hint: "+tt.hint+"\n") {
			t.Errorf("%v: exit %d, stderr %q; want 64 and %q", tt.args, code, errb.String(), tt.hint)
		}
	}
}

// A first try in a fresh directory that fails at once (no app config)
// leaves no logs/ behind; where logs/ exists, the failure is logged there.
func TestEarlyFailureCreatesNoLogDirectory(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	var errb bytes.Buffer
	if code := Main(Build{}, nil, io.Discard, &errb); code != exit.NoInput {
		t.Fatalf("exit %d, want 66:\n%s", code, errb.String())
	}
	if _, err := os.Stat("logs"); err == nil {
		t.Error("a run that failed at once created logs/")
	}
	if !strings.Contains(errb.String(), "app config configs/schwab_app_config.yaml not found") {
		t.Errorf("stderr lacks the error:\n%s", errb.String())
	}
	// deliver, with no token file, neither.
	if code := Main(Build{}, []string{"deliver"}, io.Discard, io.Discard); code != exit.NoInput {
		t.Errorf("deliver: exit %d, want 66", code)
	}
	if _, err := os.Stat("logs"); err == nil {
		t.Error("a deliver that failed at once created logs/")
	}
	os.Mkdir("logs", 0o700)
	Main(Build{}, nil, io.Discard, io.Discard)
	if b, _ := os.ReadFile("logs/token_refresh_sender.log"); !strings.Contains(string(b), "ERROR: app config configs/schwab_app_config.yaml not found") {
		t.Errorf("log file in an existing logs/ = %q, want the error", b)
	}
}

// The metrics warning names the metrics file and its directory, never the
// temp file, and says what to do.
func TestMetricsWarningNamesPath(t *testing.T) {
	c := newCycle(t)
	prom := filepath.Join(c.dir, "missing", "refresh_token.prom")
	var errb bytes.Buffer
	code := Main(Build{}, []string{"run", "--log-file=", "--token-file", c.tokens, "--socket", c.sock, "--app-config", c.app,
		"--token-url", c.url, "--force", "--metrics-file", prom}, io.Discard, &errb)
	want := "WARN: Cannot write metrics file " + prom + ": create a temp file in directory " + filepath.Dir(prom) + ": no such file or directory hint="
	if code != 0 || !strings.Contains(errb.String(), want) || strings.Contains(errb.String(), store.TempMark) {
		t.Errorf("exit %d, stderr lacks %q or names the temp file:\n%s", code, want, errb.String())
	}
}
