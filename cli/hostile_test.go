package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/harness"
	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/fixture"
	"github.com/refresh-token/refresh-token/internal/testutil"
	"github.com/refresh-token/refresh-token/store"
)

// A FIFO at any path a run opens (token file, lock, app config, a
// credential, metrics file, log file) is refused at once instead of
// blocking the run, and so the timer, forever.
func TestFIFOsDoNotHang(t *testing.T) {
	tests := []struct {
		name string
		path func(c *cycle) string
		args []string
		code int
		want string
	}{
		{"token file", func(c *cycle) string { return c.tokens }, nil, exit.NoInput, "not a regular file (a FIFO)"},
		{"lock", func(c *cycle) string { return c.tokens + ".lock" }, nil, exit.CantCreate, `not a regular file (a FIFO) hint="remove it`},
		{"app config", func(c *cycle) string { return c.app }, nil, exit.NoInput, "not a regular file (a FIFO)"},
		{"credential", func(c *cycle) string {
			os.Mkdir(filepath.Join(c.dir, "creds"), 0o700)
			return filepath.Join(c.dir, "creds", "app_secret")
		}, nil, exit.NoInput, "not a regular file (a FIFO)"},
		{"metrics file", func(c *cycle) string { return filepath.Join(c.dir, "m.prom") }, []string{"--metrics-file", "m.prom"}, exit.OK, "m.prom: it is a FIFO, not a regular file hint="},
		{"log file", func(c *cycle) string { return filepath.Join(c.dir, "run.log") }, []string{"--log-file", "run.log"}, exit.OK, "Cannot open log file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCycle(t)
			t.Setenv("CREDENTIALS_DIRECTORY", filepath.Join(c.dir, "creds"))
			unblock := testutil.Mkfifo(t, tt.path(c))
			var code int
			var out, errb bytes.Buffer
			testutil.NoHang(t, 10*time.Second, unblock, func() {
				args := []string{"run", "--log-file=", "--token-file", c.tokens, "--socket", c.sock, "--retries", "1",
					"--app-config", c.app, "--token-url", c.url, "--force"}
				for i := range tt.args {
					if !strings.HasPrefix(tt.args[i], "--") {
						tt.args[i] = filepath.Join(c.dir, tt.args[i])
					}
				}
				code = Main(Build{}, append(args, tt.args...), &out, &errb)
			})
			if code != tt.code || !strings.Contains(errb.String(), tt.want) {
				t.Errorf("exit %d, want %d; stderr lacks %q:\n%s", code, tt.code, tt.want, errb.String())
			}
		})
	}
}

// status and deliver read the token file and the lock as run does.
func TestStatusAndDeliverFIFO(t *testing.T) {
	for _, args := range [][]string{{"status"}, {"deliver", "--log-file="}} {
		dir := t.TempDir()
		p := filepath.Join(dir, "tokens.json")
		unblock := testutil.Mkfifo(t, p)
		var code int
		testutil.NoHang(t, 10*time.Second, unblock, func() {
			code = Main(Build{}, append(args, "--token-file", p, "--socket", filepath.Join(dir, "none")), &bytes.Buffer{}, &bytes.Buffer{})
		})
		if code != exit.NoInput {
			t.Errorf("%v: exit %d, want 66", args, code)
		}
		lockDir := t.TempDir()
		tok := testutil.Tokens(t, lockDir, time.Now().Unix()+1200, time.Now().Unix()-3600)
		unblock = testutil.Mkfifo(t, tok+".lock")
		testutil.NoHang(t, 10*time.Second, unblock, func() { store.LockHeld(tok) })
	}
}

// SIGTERM or SIGINT ends the run at any point: the waits watch the signal's
// context, and a command stuck where nothing can watch it is abandoned
// after interruptGrace.
func TestInterruptEndsStuckCommand(t *testing.T) {
	old := interruptGrace
	interruptGrace = 100 * time.Millisecond
	defer func() { interruptGrace = old }()
	ctx, cancel := context.WithCancel(context.Background())
	stuck := make(chan struct{})
	defer close(stuck)
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	var err error
	testutil.NoHang(t, 10*time.Second, nil, func() { err = runInterruptible(ctx, func() error { <-stuck; return nil }) })
	if exit.Code(err) != exit.TempFail || !strings.Contains(err.Error(), "did not stop within") {
		t.Errorf("err = %v (exit %d), want 75 abandoned", err, exit.Code(err))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("returned after %s", d)
	}
	// A command that stops in time keeps its own result.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if err := runInterruptible(ctx, func() error { return nil }); err != nil {
		t.Errorf("command that stopped: %v", err)
	}
}

// SIGTERM to a real process stuck in the write (a hung disk, simulated by a
// write step that ignores every signal): it exits 75 within the grace, and
// the token file is as it was.
func TestSIGTERMEndsStuckProcess(t *testing.T) {
	r := fixture.NewRig(t, harness.SchwabConfig{})
	before := testutil.Read(t, r.Tokens)
	cmd := exec.Command(os.Args[0], "run", "--token-file", r.Tokens, "--app-config", r.App, "--token-url", r.URL,
		"--socket", r.Sock, "--log-file=", "--force")
	cmd.Env = append(os.Environ(), fixture.ChildEnv+"=1", fixture.StickAtEnv+"=before-rename")
	var errb testutil.SyncBuffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Wait for the run to reach the write, then stop it as systemd would.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(errb.String(), "stuck at before-rename") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(interruptGrace + 10*time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("still running %s after SIGTERM:\n%s", interruptGrace+10*time.Second, errb.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != exit.TempFail {
		t.Errorf("exit %d, want 75:\n%s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "interrupted: did not stop within") {
		t.Errorf("stderr lacks the reason:\n%s", errb.String())
	}
	if !bytes.Equal(testutil.Read(t, r.Tokens), before) {
		t.Error("token file changed")
	}
}

// The metrics file and the log are never written through a symlink, nor
// into a file another user owns: each is refused with a WARN that names
// it, the file behind is left as it was, and the run itself succeeds.
func TestMetricsAndLogRefusePlantedFiles(t *testing.T) {
	type planted struct {
		name  string
		plant func(t *testing.T, path, victim string)
		root  bool // needs root: a file owned by uid 65534
	}
	for _, p := range []planted{
		{"symlink", func(t *testing.T, path, victim string) {
			if err := os.Symlink(victim, path); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"foreign owner", func(t *testing.T, path, _ string) {
			os.WriteFile(path, []byte("theirs\n"), 0o666)
			if err := os.Chown(path, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}, true},
	} {
		t.Run(p.name, func(t *testing.T) {
			if p.root && os.Geteuid() != 0 {
				t.Skip("needs root to give a file to uid 65534")
			}
			c := newCycle(t)
			victim := filepath.Join(t.TempDir(), "secret")
			os.WriteFile(victim, []byte("root only\n"), 0o600)
			prom := filepath.Join(c.dir, "refresh_token.prom")
			logf := filepath.Join(c.dir, "refresh.log")
			p.plant(t, prom, victim)
			p.plant(t, logf, victim)
			before := map[string][]byte{victim: testutil.Read(t, victim)}
			if p.root {
				before[prom], before[logf] = testutil.Read(t, prom), testutil.Read(t, logf)
			}
			var errb bytes.Buffer
			code := Main(Build{}, []string{"run", "--log-file", logf, "--token-file", c.tokens, "--socket", c.sock,
				"--app-config", c.app, "--token-url", c.url, "--force", "--metrics-file", prom}, io.Discard, &errb)
			if code != 0 {
				t.Fatalf("exit %d, want 0\n%s", code, errb.String())
			}
			for _, want := range []string{"WARN: Cannot write metrics file " + prom + ": it ", "WARN: Cannot open log file, logging to stderr only: open " + logf + ": "} {
				if !strings.Contains(errb.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, errb.String())
				}
			}
			for path, data := range before {
				if got := testutil.Read(t, path); !bytes.Equal(got, data) {
					t.Errorf("%s changed: %q", path, got)
				}
			}
			testutil.CheckMode(t, victim, 0o600)
		})
	}
}
