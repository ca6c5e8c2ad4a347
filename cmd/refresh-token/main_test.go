package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/cli"
	"github.com/refresh-token/refresh-token/harness"
	"github.com/refresh-token/refresh-token/internal/leakcheck"
	"github.com/rogpeppe/go-internal/testscript"
)

// The scripts in testdata/script run refresh-token and bot-sim as real
// processes: this test binary re-executes itself as either command.
func TestMain(m *testing.M) {
	testscript.Main(leakcheck.Wrap(m), map[string]func(){
		"refresh-token": func() {
			os.Exit(cli.Main(cli.Build{Version: "test"}, os.Args[1:], os.Stdout, os.Stderr))
		},
		"bot-sim": func() { os.Exit(harness.Run()) },
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "../../testdata/script",
		Setup: func(env *testscript.Env) error {
			// Never the real /tmp socket; fast delivery retries.
			env.Setenv("REFRESH_TOKEN_SOCKET", "bot.sock")
			env.Setenv("REFRESH_TOKEN_RETRY_DELAY", "100ms")
			env.Setenv("REFRESH_TOKEN_SOCKET_TIMEOUT", "2s")
			env.Setenv("UID", strconv.Itoa(os.Geteuid()))
			demo, err := filepath.Abs("../../scripts/demo.sh")
			env.Setenv("DEMO", demo)
			env.Setenv("DEMO_LOGIN", filepath.Join(filepath.Dir(demo), "demo-login.sh"))
			return err
		},
		Condition: func(cond string) (bool, error) {
			if cond == "root" {
				return os.Geteuid() == 0, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"mktoken":    cmdMktoken,
			"waitfile":   cmdWaitfile,
			"envfile":    cmdEnvfile,
			"perm":       cmdPerm,
			"tokenfield": cmdTokenfield,
			"requests":   cmdRequests,
			"sleep":      cmdSleep,
			"waitgrep":   cmdWaitgrep,
			"modes":      cmdModes,
			"delivered":  cmdDelivered,
			// security.txtar and squatter.txtar: security_test.go
			"runas":       cmdRunas,
			"tlsendpoint": cmdTLSEndpoint,
			"urlhost":     cmdURLHost,
			"islink":      cmdIsLink,
			"nosecrets":   cmdNoSecrets,
			// login*.txtar: login_test.go
			"freeport":     cmdFreeport,
			"holdport":     cmdHoldport,
			"appconfig":    cmdAppconfig,
			"browse":       cmdBrowse,
			"waitprompt":   cmdWaitprompt,
			"authorize":    cmdAuthorize,
			"authorizeurl": cmdAuthorizeURL,
			// badtoken.txtar: rawendpoint_test.go
			"rawendpoint": cmdRawEndpoint,
		},
	})
}

// mktoken FILE [issued=DUR] [created=DUR] [rt=TOKEN] [atlen=N]
// writes a schwab-py token file whose access token was issued DUR from now
// (negative: in the past), with an unknown field at each level.
func cmdMktoken(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: mktoken FILE [issued=DUR] [created=DUR] [rt=TOKEN] [atlen=N]")
	}
	issued, created, rt, at := -25*time.Minute, -24*time.Hour, "RT-test", "AT-old-0123456789"
	for _, a := range args[1:] {
		k, v, _ := strings.Cut(a, "=")
		var err error
		switch k {
		case "issued":
			issued, err = time.ParseDuration(v)
		case "created":
			created, err = time.ParseDuration(v)
		case "rt":
			rt = v
		case "atlen":
			var n int
			n, err = strconv.Atoi(v)
			at = "AT-" + strings.Repeat("x", n-3)
		default:
			err = fmt.Errorf("unknown key %q", k)
		}
		ts.Check(err)
	}
	now := time.Now()
	doc := map[string]any{
		"creation_timestamp": now.Add(created).Unix(),
		"dashboard_note":     "kept",
		"token": map[string]any{
			"expires_in":    1800,
			"token_type":    "Bearer",
			"scope":         "api",
			"refresh_token": rt,
			"access_token":  at,
			"id_token":      "ID-old",
			"expires_at":    now.Add(issued).Unix() + 1800,
			"x_unknown":     []int{1, 2},
		},
	}
	data, err := json.MarshalIndent(doc, "", "    ")
	ts.Check(err)
	ts.Check(os.MkdirAll(ts.MkAbs(dirOf(args[0])), 0o700))
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), data, 0o600))
}

func dirOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return "."
}

// waitfile PATH: wait up to 10 s for PATH to appear.
func cmdWaitfile(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: waitfile PATH")
	}
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(ts.MkAbs(args[0])); err == nil {
			return
		}
	}
	ts.Fatalf("%s did not appear within 10s", args[0])
}

// sleep DUR
func cmdSleep(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: sleep DUR")
	}
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	time.Sleep(d)
}

// waitgrep FILE REGEXP: wait up to 10 s for FILE to match REGEXP, e.g. a
// background run's log file reaching a step.
func cmdWaitgrep(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: waitgrep FILE REGEXP")
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if data, err := os.ReadFile(ts.MkAbs(args[0])); err == nil && re.Match(data) {
			return
		}
	}
	ts.Fatalf("%s did not match %q within 10s", args[0], args[1])
}

// envfile NAME FILE: set NAME to FILE's trimmed content.
func cmdEnvfile(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: envfile NAME FILE")
	}
	ts.Setenv(args[0], strings.TrimSpace(ts.ReadFile(args[1])))
}

// perm FILE MODE: FILE's permission bits are MODE (octal).
func cmdPerm(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: perm FILE MODE")
	}
	st, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	want, err := strconv.ParseUint(args[1], 8, 32)
	ts.Check(err)
	if got := uint64(st.Mode().Perm()); (got == want) == neg {
		ts.Fatalf("%s mode %#o, want %s%#o", args[0], got, map[bool]string{true: "not "}[neg], want)
	}
}

// tokenfield FILE KEY WANT: a field of the token file, "token.KEY" for the
// inner object, printed as JSON, equals WANT ("~" means: differs from the
// value saved by a previous "tokenfield FILE KEY save").
func cmdTokenfield(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: tokenfield FILE KEY WANT")
	}
	var doc map[string]any
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[0])), &doc))
	var v any = doc
	for _, k := range strings.Split(args[1], ".") {
		m, ok := v.(map[string]any)
		if !ok {
			ts.Fatalf("%s: %s is not inside an object", args[0], args[1])
		}
		v = m[k]
	}
	b, _ := json.Marshal(v)
	got := strings.Trim(string(b), `"`)
	if args[2] == "save" {
		ts.Setenv("SAVED_"+strings.ReplaceAll(args[1], ".", "_"), got)
		return
	}
	if (got == args[2]) == neg {
		ts.Fatalf("%s %s = %s, want %s%s", args[0], args[1], got, map[bool]string{true: "not "}[neg], args[2])
	}
}

// requests N: the fake endpoint at $URL has answered N token requests.
func cmdRequests(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: requests N")
	}
	resp, err := http.Get(control(ts, "requests"))
	ts.Check(err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if got := strings.TrimSpace(string(body)); (got == args[0]) == neg {
		ts.Fatalf("requests = %s, want %s%s", got, map[bool]string{true: "not "}[neg], args[0])
	}
}

// modes LIST: the fake endpoint at $URL answers with LIST from now on.
func cmdModes(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: modes LIST")
	}
	resp, err := http.Post(control(ts, "modes"), "text/plain", strings.NewReader(args[0]))
	ts.Check(err)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		ts.Fatalf("set modes %s: %s", args[0], resp.Status)
	}
}

func control(ts *testscript.TestScript, what string) string {
	return strings.TrimSuffix(ts.Getenv("URL"), harness.TokenPath) + "/control/" + what
}

// delivered RECORD TOKENFILE: the last message the bot recorded carries
// the token file's access token, refresh token and expires_at.
func cmdDelivered(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: delivered RECORD TOKENFILE")
	}
	lines := strings.Split(strings.TrimSpace(ts.ReadFile(args[0])), "\n")
	var rec struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		ExpiresAt    int64  `json:"expires_at"`
	}
	ts.Check(json.Unmarshal([]byte(lines[len(lines)-1]), &rec))
	var file struct {
		Token struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
			ExpiresAt    int64  `json:"expires_at"`
		} `json:"token"`
	}
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[1])), &file))
	same := rec.AccessToken == file.Token.AccessToken && rec.RefreshToken == file.Token.RefreshToken && rec.ExpiresAt == file.Token.ExpiresAt
	if same == neg {
		ts.Fatalf("bot holds %s/%d, file %s/%d", harness.Redact(rec.AccessToken), rec.ExpiresAt, harness.Redact(file.Token.AccessToken), file.Token.ExpiresAt)
	}
}
