package cli

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/harness"
	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/fixture"
	"github.com/refresh-token/refresh-token/internal/testutil"
	"github.com/refresh-token/refresh-token/oauth"
	"github.com/refresh-token/refresh-token/store"
)

// loginChild is refresh-token login as a child process.
type loginChild struct {
	*fixture.Child
	stdout testutil.SyncBuffer
}

// startLogin runs refresh-token login; killAt, if set, is the write step
// at which the child kills itself.
func startLogin(t *testing.T, r *fixture.Login, killAt string, args ...string) *loginChild {
	t.Helper()
	base := []string{"--token-file", r.Tokens, "login", "--log-file=", "--socket", r.Sock, "--retries", "1",
		"--app-config", r.App, "--token-url", r.URL, "--authorize-url", r.AuthURL, "--no-browser"}
	c := &loginChild{}
	c.Child = fixture.StartChild(t, killAt, &c.stdout, append(base, args...)...)
	return c
}

// browser waits for the child's prompt and returns a browser for it.
func (c *loginChild) browser(t *testing.T) (testutil.Browser, string) {
	t.Helper()
	authURL, fp, err := testutil.WaitLoginPrompt(c.stdout.String, false)
	if err != nil {
		t.Fatalf("%v\nstderr:\n%s", err, c.Stderr.String())
	}
	return testutil.Browser{Fingerprint: fp, Timeout: 20 * time.Second}, authURL
}

// SIGTERM while the login waits for the browser ends it cleanly: exit 75,
// the token file byte-identical, the port released.
func TestLoginSIGTERMDuringWait(t *testing.T) {
	r := fixture.NewLogin(t)
	old := testutil.Read(t, r.Tokens)
	c := startLogin(t, r, "")
	_, authURL := c.browser(t)
	c.Cmd.Process.Signal(syscall.SIGTERM)
	if code := c.Wait(t); code != exit.TempFail {
		t.Fatalf("exit %d, want 75\n%s", code, c.Stderr.String())
	}
	if !strings.Contains(c.Stderr.String(), "ERROR: interrupted: the wait for the browser login ended") {
		t.Errorf("stderr:\n%s", c.Stderr.String())
	}
	if !bytes.Equal(testutil.Read(t, r.Tokens), old) {
		t.Error("the token file changed")
	}
	u, _ := url.Parse(authURL)
	cb, _ := url.Parse(u.Query().Get("redirect_uri"))
	ln, err := net.Listen("tcp", cb.Host)
	if err != nil {
		t.Errorf("the callback port is still taken: %v", err)
	} else {
		ln.Close()
	}
	if n := r.Schwab.Requests(); n != 0 {
		t.Errorf("%d token requests", n)
	}
}

// A login killed with SIGKILL at any step of its write leaves the old file
// or the new one, whole, never a broken one; the next run cleans up and
// refreshes what it finds.
func TestLoginKilledDuringWrite(t *testing.T) {
	for _, step := range writeSteps {
		t.Run(step, func(t *testing.T) {
			r := fixture.NewLogin(t)
			old := testutil.Read(t, r.Tokens)
			c := startLogin(t, r, step)
			b, authURL := c.browser(t)
			visit := make(chan error, 1)
			go func() { _, err := b.Login(authURL); visit <- err }()
			if code := c.Wait(t); code != -1 {
				t.Fatalf("exit %d, want death by SIGKILL at %s\n%s", code, step, c.Stderr.String())
			}
			<-visit // the page never came: the process died
			got := testutil.Read(t, r.Tokens)
			if step == "after-rename" {
				r.CheckNew(t, got)
				testutil.CheckMode(t, r.Tokens, 0o640)
			} else if !bytes.Equal(got, old) {
				t.Fatalf("killed at %s before the rename: the file changed\n%s", step, got)
			}
			// The next run removes a temp file left behind and refreshes
			// with the refresh token it finds: the old one was ended by
			// the login at Schwab, so a file left old needs a new login.
			exe, _ := os.Executable()
			cmd := exec.Command(exe, "--token-file", r.Tokens, "run", "--log-file=", "--socket", r.Sock, "--retries", "1",
				"--app-config", r.App, "--token-url", r.URL, "--force")
			cmd.Env = append(fixture.ChildEnviron(), fixture.ChildEnv+"=1")
			out, _ := cmd.CombinedOutput()
			want := 0
			if step != "after-rename" {
				want = exit.NoPerm
			}
			if cmd.ProcessState.ExitCode() != want {
				t.Errorf("next run: exit %d, want %d\n%s", cmd.ProcessState.ExitCode(), want, out)
			}
			entries, _ := os.ReadDir(r.Dir)
			for _, e := range entries {
				if strings.Contains(e.Name(), store.TempMark) {
					t.Errorf("temp file %s left after the next run", e.Name())
				}
			}
			t.Logf("SIGKILL at %s: file %s and whole; the next run exited %d", step, map[bool]string{true: "new", false: "old"}[step == "after-rename"], want)
		})
	}
}

// A login whose code arrives while a run holds the lock waits for it, and
// the browser's page waits with it; then the login writes its file.
func TestLoginWaitsForRunLock(t *testing.T) {
	r := fixture.NewLogin(t)
	old := testutil.Read(t, r.Tokens)
	lock, err := store.Lock(context.Background(), r.Tokens, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := startLogin(t, r, "")
	b, authURL := c.browser(t)
	type result struct {
		v   testutil.Visit
		err error
	}
	visit := make(chan result, 1)
	go func() { v, err := b.Login(authURL); visit <- result{v, err} }()
	time.Sleep(500 * time.Millisecond)
	select {
	case v := <-visit:
		t.Fatalf("the page came while the lock was held: %+v", v)
	default:
	}
	if !bytes.Equal(testutil.Read(t, r.Tokens), old) {
		t.Fatal("the file changed while the lock was held")
	}
	if n := r.Schwab.Requests(); n != 0 {
		t.Errorf("%d token requests while the lock was held: the code is exchanged under the lock", n)
	}
	held := time.Now()
	lock.Unlock()
	v := <-visit
	if v.err != nil || v.v.Status != 200 {
		t.Fatalf("page: %+v", v)
	}
	if n := r.Schwab.Requests(); n != 1 {
		t.Errorf("%d token requests, want the exchange", n)
	}
	if code := c.Wait(t); code != 0 {
		t.Fatalf("exit %d\n%s", code, c.Stderr.String())
	}
	r.CheckNew(t, testutil.Read(t, r.Tokens))
	testutil.CheckMode(t, r.Tokens, 0o640)
	t.Logf("the login wrote %v after the lock was released", time.Since(held).Round(time.Millisecond))
}

func TestLoginHelpAndFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main(Build{}, []string{"login", "--help"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, &errb)
	}
	for _, want := range []string{"--callback-timeout", "--manual", "--no-browser", "--authorize-url", "ssh -L 8182:127.0.0.1:8182", "SHA-256 fingerprint", "Exit codes:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("login --help lacks %q", want)
		}
	}
	t.Setenv("REFRESH_TOKEN_CALLBACK_TIMEOUT", "2m")
	var cli CLI
	p, err := newParser(&cli, Build{}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Parse([]string{"login", "--manual"}); err != nil {
		t.Fatal(err)
	}
	if cli.Login.CallbackTimeout != 2*time.Minute || !cli.Login.Manual || cli.Login.AuthorizeURL != oauth.DefaultAuthorizeURL || cli.Login.LockTimeout != 20*time.Second {
		t.Errorf("login flags: %+v", cli.Login)
	}
}

// A real run holds the lock, its token request in flight (Schwab slow),
// when the login's code arrives: the login waits for the lock before it
// spends the code, the run ends as usual (0) and writes its file, and the
// login then exchanges the code and writes its own: the file is the
// login's.
func TestLoginWaitsForARun(t *testing.T) {
	r := fixture.NewLogin(t)
	r.Schwab.SetModes(harness.ModeSlow, harness.ModeOK) // the run's request waits 3 s
	exe, _ := os.Executable()
	run := exec.Command(exe, "--token-file", r.Tokens, "run", "--log-file=", "--socket", r.Sock, "--retries", "1",
		"--app-config", r.App, "--token-url", r.URL, "--force")
	run.Env = append(fixture.ChildEnviron(), fixture.ChildEnv+"=1")
	var runErr testutil.SyncBuffer
	run.Stderr = &runErr
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(10 * time.Second); r.Schwab.Requests() < 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the run sent no token request")
		}
	}
	c := startLogin(t, r, "")
	b, authURL := c.browser(t)
	v, err := b.Login(authURL)
	paged := time.Now()
	if err != nil || v.Status != 200 {
		t.Fatalf("page: %+v, %v\n%s", v, err, c.Stderr.String())
	}
	run.Wait()
	if code := run.ProcessState.ExitCode(); code != 0 {
		t.Errorf("run: exit %d, want 0 (the login waited for it)\n%s", code, runErr.String())
	}
	if code := c.Wait(t); code != 0 {
		t.Fatalf("login: exit %d\n%s", code, c.Stderr.String())
	}
	r.CheckNew(t, testutil.Read(t, r.Tokens))
	if d := paged.Sub(c.Start); d < time.Second {
		t.Errorf("the page came %v after the login's start: it did not wait for the run", d)
	}
	t.Logf("page shown %v after the login started", paged.Sub(c.Start).Round(time.Millisecond))
}
