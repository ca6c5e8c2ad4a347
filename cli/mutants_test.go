package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/harness"
	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/fixture"
	"github.com/refresh-token/refresh-token/internal/seam"
	"github.com/refresh-token/refresh-token/internal/testutil"
)

// A good refresh whose token file cannot be written exits 73 from run, the
// old file intact, and the bot still gets the new token.
func TestRunWriteFailureExits73AndDelivers(t *testing.T) {
	c := newCycle(t)
	before, err := os.ReadFile(c.tokens)
	if err != nil {
		t.Fatal(err)
	}
	real := seam.Fsync
	t.Cleanup(func() { seam.Fsync = real })
	seam.Fsync = func(*os.File) error { return syscall.ENOSPC }
	var out, errb bytes.Buffer
	bot, sock := startBot(t)
	code := Main(Build{}, []string{"--log-file=", "--token-file", c.tokens, "--socket", sock, "--retries", "1",
		"run", "--app-config", c.app, "--token-url", c.url, "--force"}, &out, &errb)
	if code != exit.CantCreate {
		t.Errorf("exit %d, want 73\n%s", code, errb.String())
	}
	if !strings.Contains(errb.String(), `ERROR: token file could not be written: fsync `) ||
		!strings.Contains(errb.String(), `no space left on device hint="check free space and that the directory is writable; the old file is intact" exit=73`) {
		t.Errorf("stderr lacks the ERROR line of exit 73:\n%s", errb.String())
	}
	if after, _ := os.ReadFile(c.tokens); !bytes.Equal(before, after) {
		t.Errorf("token file changed:\n%s", after)
	}
	msg, ok := bot.Current()
	if !ok || !strings.HasPrefix(msg.AccessToken, "AT-") || bytes.Contains(before, []byte(msg.AccessToken)) || msg.ExpiresAt <= time.Now().Unix() {
		t.Errorf("bot holds %+v (ok %v), want the new token", msg, ok)
	}
	if c.schwab.Requests() != 1 {
		t.Errorf("%d token requests, want 1", c.schwab.Requests())
	}
}

// startBot serves a bot receiver on a socket of its own until the test ends.
func startBot(t *testing.T) (*harness.Receiver, string) {
	t.Helper()
	bot := &harness.Receiver{Path: filepath.Join(testutil.ShortTempDir(t), "bot.sock")}
	if err := bot.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { bot.Serve(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return bot, bot.Path
}

// --version takes what the linker stamped, else the module version and the
// VCS revision that go build records, else "devel" and "unknown".
func TestBuildDescribe(t *testing.T) {
	info := &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.time", Value: "2026-12-01T00:00:00Z"}, {Key: "vcs.revision", Value: "abc123"},
	}}
	gov := runtime.Version()
	for _, tt := range []struct {
		name string
		b    Build
		info *debug.BuildInfo
		ok   bool
		want string
	}{
		{"stamped", Build{Version: "v9", Commit: "fff"}, info, true, "refresh-token 9 (commit fff, " + gov + ")"},
		{"release", Build{Version: "0.1.0", Commit: "abc1234"}, info, true, "refresh-token 0.1.0 (commit abc1234, " + gov + ")"},
		{"from the build info", Build{}, info, true, "refresh-token 1.2.3 (commit abc123, " + gov + ")"},
		{"stamped version, recorded commit", Build{Version: "v9"}, info, true, "refresh-token 9 (commit abc123, " + gov + ")"},
		{"a version that is the commit", Build{Version: "07f5056", Commit: "07f5056"}, info, true, "refresh-token devel (commit 07f5056, " + gov + ")"},
		{"a version that is the commit, dirty", Build{Version: "07f5056-dirty", Commit: "07f5056"}, info, true, "refresh-token devel (commit 07f5056, " + gov + ")"},
		{"a short version of a long commit", Build{Version: "07f5056", Commit: "07f5056abcdef"}, info, true, "refresh-token devel (commit 07f5056abcdef, " + gov + ")"},
		{"(devel)", Build{}, &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, true, "refresh-token devel (commit unknown, " + gov + ")"},
		{"empty version", Build{}, &debug.BuildInfo{}, true, "refresh-token devel (commit unknown, " + gov + ")"},
		{"no build info", Build{}, nil, false, "refresh-token devel (commit unknown, " + gov + ")"},
	} {
		if got := tt.b.describe(tt.info, tt.ok); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// A metrics file that cannot be written is a warning, and only then: the
// run's exit code is the refresh's.
func TestMetricsWriteFailureWarns(t *testing.T) {
	c := newCycle(t)
	for _, tt := range []struct {
		path string
		warn bool
	}{
		{filepath.Join(c.dir, "metrics.prom"), false},
		{filepath.Join(c.dir, "missing", "metrics.prom"), true},
	} {
		var out, errb bytes.Buffer
		code := Main(Build{}, []string{"--log-file=", "--token-file", c.tokens, "--socket", c.sock, "--retries", "1",
			"run", "--app-config", c.app, "--token-url", c.url, "--force", "--metrics-file", tt.path}, &out, &errb)
		if code != 0 {
			t.Errorf("%s: exit %d, want 0", tt.path, code)
		}
		if warned := strings.Contains(errb.String(), "WARN: Cannot write metrics file "+tt.path+": "); warned != tt.warn {
			t.Errorf("%s: warned %v, want %v\n%s", tt.path, warned, tt.warn, errb.String())
		}
	}
}

// SIGTERM while the token request hangs ends the run at once, and the
// ERROR line says the run was interrupted rather than the endpoint failed.
func TestSIGTERMSaysInterrupted(t *testing.T) {
	r := fixture.NewRig(t, harness.SchwabConfig{ExpiresIn: 1800, Modes: []harness.Mode{harness.ModeHang}})
	before := testutil.Read(t, r.Tokens)
	c := r.Start(t, "", "--force", "--http-timeout", "1m")
	for deadline := time.Now().Add(time.Minute); r.Schwab.Requests() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) { // a safety net, not a measure
			c.Cmd.Process.Kill()
			t.Fatalf("no token request within a minute:\n%s", c.Stderr.String())
		}
	}
	c.Cmd.Process.Signal(syscall.SIGTERM)
	code := c.Wait(t)
	if code != exit.TempFail || !strings.Contains(c.Stderr.String(), "ERROR: interrupted: refresh token: ") {
		t.Errorf("exit %d, want 75 with an ERROR line that says interrupted:\n%s", code, c.Stderr.String())
	}
	if got := testutil.Read(t, r.Tokens); !bytes.Equal(got, before) {
		t.Errorf("token file changed:\n%s", got)
	}
}

// A refresh delivered to the bot, with metrics, logs no WARN or ERROR: no
// warning that fires on success (releasing the lock, writing metrics).
func TestCleanRunWarnsOfNothing(t *testing.T) {
	c := newCycle(t)
	var out, errb bytes.Buffer
	code := Main(Build{}, []string{"--log-file=", "--token-file", c.tokens, "--socket", c.sock, "--retries", "1",
		"run", "--app-config", c.app, "--token-url", c.url, "--force", "--metrics-file", filepath.Join(c.dir, "m.prom")}, &out, &errb)
	if code != 0 || strings.Contains(errb.String(), "WARN") || strings.Contains(errb.String(), "ERROR") ||
		!strings.Contains(errb.String(), "Token successfully sent to trading bot") {
		t.Errorf("exit %d:\n%s", code, errb.String())
	}
}
