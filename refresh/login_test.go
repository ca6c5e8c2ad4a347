package refresh

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/harness"
	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/testutil"
	"github.com/refresh-token/refresh-token/oauth"
)

// A login's file is {"creation_timestamp": now, "token": {every field of
// the answer, "expires_at"}}, in Schwab's order, and reads back as it was
// made.
func TestNewTokenFile(t *testing.T) {
	r := &oauth.Response{AccessToken: "AT", RefreshToken: "RT", IDToken: "ID", TokenType: "Bearer", Scope: "api", ExpiresIn: 1800,
		Extra: []oauth.Field{{Name: "refresh_token_expires_in", Value: []byte("604800")}}}
	now := time.Unix(1_800_000_000, 0)
	f := newTokenFile(r, now)
	want := `{
    "creation_timestamp": 1800000000,
    "token": {
        "expires_in": 1800,
        "token_type": "Bearer",
        "scope": "api",
        "refresh_token": "RT",
        "access_token": "AT",
        "id_token": "ID",
        "refresh_token_expires_in": 604800,
        "expires_at": 1800001800
    }
}
`
	if got := string(f.Marshal()); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	back, err := ParseTokenFile(f.Marshal())
	if err != nil || back.Token != f.Token || back.CreationTimestamp != now.Unix() {
		t.Errorf("read back: %+v, %v", back, err)
	}
	// Without the optional fields, none is made up.
	f = newTokenFile(&oauth.Response{AccessToken: "AT", RefreshToken: "RT", ExpiresIn: 900}, now)
	if got := string(f.Marshal()); strings.Contains(got, "scope") || strings.Contains(got, "id_token") || !strings.Contains(got, `"expires_at": 1800000900`) {
		t.Errorf("minimal answer:\n%s", got)
	}
}

// loginRig is a fake Schwab with its authorization endpoint, an app
// config whose callback_url is a free loopback port, and a token file.
type loginRig struct {
	dir, tokens, app, url, authURL, sock string
	schwab                               *harness.Schwab
}

func newLoginRig(t *testing.T) *loginRig {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	callback := fmt.Sprintf("https://127.0.0.1:%d", ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	r := &loginRig{dir: t.TempDir()}
	r.schwab = harness.NewSchwab(harness.SchwabConfig{AppKey: "loginappkey", AppSecret: "loginappsecret", RefreshToken: rigRefreshToken, CallbackURL: callback, Delay: 3 * time.Second})
	srv := httptest.NewServer(r.schwab.Handler())
	t.Cleanup(func() { r.schwab.Close(); srv.Close() })
	r.url = srv.URL + harness.TokenPath
	r.authURL = srv.URL + harness.AuthorizePath
	r.app = filepath.Join(r.dir, "app.yaml")
	if err := os.WriteFile(r.app, []byte("app_key: loginappkey\napp_secret: loginappsecret\ncallback_url: "+callback+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.tokens = filepath.Join(r.dir, "tokens.json")
	old := fmt.Sprintf(`{"creation_timestamp": %d, "token": {"refresh_token": %q, "access_token": "AT-before-login", "expires_in": 1800, "expires_at": %d}}`,
		time.Now().Add(-6*24*time.Hour).Unix(), rigRefreshToken, time.Now().Add(10*time.Minute).Unix())
	if err := os.WriteFile(r.tokens, []byte(old), 0o640); err != nil {
		t.Fatal(err)
	}
	os.Chmod(r.tokens, 0o640)
	r.sock = filepath.Join(r.dir, "no-bot.sock")
	return r
}

// loginChild is refresh-token login as a child process.
type loginChild struct {
	*child
	stdout testutil.SyncBuffer
}

// start runs refresh-token login; killAt, if set, is the write step at
// which the child kills itself.
func (r *loginRig) start(t *testing.T, killAt string, args ...string) *loginChild {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	base := []string{"--token-file", r.tokens, "login", "--log-file=", "--socket", r.sock, "--retries", "1",
		"--app-config", r.app, "--token-url", r.url, "--authorize-url", r.authURL, "--no-browser"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	c := &loginChild{child: &child{cancel: cancel}}
	c.cmd = exec.CommandContext(ctx, exe, append(base, args...)...)
	gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	c.cmd.Env = append(childEnviron(), childEnv+"=1", killAtEnv+"="+killAt, "GORACE="+gorace)
	c.cmd.Stdout = &c.stdout
	c.cmd.Stderr = &c.child.stderr
	c.start = time.Now()
	if err := c.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	return c
}

// browser waits for the child's prompt and returns a browser for it.
func (c *loginChild) browser(t *testing.T) (testutil.Browser, string) {
	t.Helper()
	authURL, fp, err := testutil.WaitLoginPrompt(c.stdout.String, false)
	if err != nil {
		t.Fatalf("%v\nstderr:\n%s", err, c.stderr.String())
	}
	return testutil.Browser{Fingerprint: fp, Timeout: 20 * time.Second}, authURL
}

// checkNew checks that the token file is a whole login file with the
// fake's current refresh token.
func (r *loginRig) checkNew(t *testing.T, data []byte) {
	t.Helper()
	f, err := ParseTokenFile(data)
	if err != nil {
		t.Fatalf("token file is neither the old one nor whole: %v\n%s", err, data)
	}
	if f.Token.RefreshToken != r.schwab.RefreshToken() || f.Token.RefreshToken == rigRefreshToken {
		t.Fatalf("refresh token %q, want the login's %q", f.Token.RefreshToken, r.schwab.RefreshToken())
	}
	if time.Since(time.Unix(f.CreationTimestamp, 0)) > time.Minute {
		t.Errorf("creation_timestamp %d is not the login's", f.CreationTimestamp)
	}
}

// SIGTERM while the login waits for the browser ends it cleanly: exit 75,
// the token file byte-identical, the port released.
func TestLoginSIGTERMDuringWait(t *testing.T) {
	r := newLoginRig(t)
	old := mustRead(t, r.tokens)
	c := r.start(t, "")
	_, authURL := c.browser(t)
	c.cmd.Process.Signal(syscall.SIGTERM)
	if code := c.wait(t); code != exit.TempFail {
		t.Fatalf("exit %d, want 75\n%s", code, c.stderr.String())
	}
	if !strings.Contains(c.stderr.String(), "ERROR: interrupted: the wait for the browser login ended") {
		t.Errorf("stderr:\n%s", c.stderr.String())
	}
	if !bytes.Equal(mustRead(t, r.tokens), old) {
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
	if n := r.schwab.Requests(); n != 0 {
		t.Errorf("%d token requests", n)
	}
}

// A login killed with SIGKILL at any step of its write leaves the old file
// or the new one, whole, never a broken one; the next run cleans up and
// refreshes what it finds.
func TestLoginKilledDuringWrite(t *testing.T) {
	for _, step := range writeSteps {
		t.Run(step, func(t *testing.T) {
			r := newLoginRig(t)
			old := mustRead(t, r.tokens)
			c := r.start(t, step)
			b, authURL := c.browser(t)
			visit := make(chan error, 1)
			go func() { _, err := b.Login(authURL); visit <- err }()
			if code := c.wait(t); code != -1 {
				t.Fatalf("exit %d, want death by SIGKILL at %s\n%s", code, step, c.stderr.String())
			}
			<-visit // the page never came: the process died
			got := mustRead(t, r.tokens)
			if step == "after-rename" {
				r.checkNew(t, got)
				checkMode(t, r.tokens, 0o640)
			} else if !bytes.Equal(got, old) {
				t.Fatalf("killed at %s before the rename: the file changed\n%s", step, got)
			}
			// The next run removes a temp file left behind and refreshes
			// with the refresh token it finds: the old one was ended by
			// the login at Schwab, so a file left old needs a new login.
			exe, _ := os.Executable()
			cmd := exec.Command(exe, "--token-file", r.tokens, "run", "--log-file=", "--socket", r.sock, "--retries", "1",
				"--app-config", r.app, "--token-url", r.url, "--force")
			cmd.Env = append(childEnviron(), childEnv+"=1")
			out, _ := cmd.CombinedOutput()
			want := 0
			if step != "after-rename" {
				want = exit.NoPerm
			}
			if cmd.ProcessState.ExitCode() != want {
				t.Errorf("next run: exit %d, want %d\n%s", cmd.ProcessState.ExitCode(), want, out)
			}
			entries, _ := os.ReadDir(r.dir)
			for _, e := range entries {
				if strings.Contains(e.Name(), tempMark) {
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
	r := newLoginRig(t)
	old := mustRead(t, r.tokens)
	lock, err := Lock(context.Background(), r.tokens, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := r.start(t, "")
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
	if !bytes.Equal(mustRead(t, r.tokens), old) {
		t.Fatal("the file changed while the lock was held")
	}
	if r.schwab.Requests() != 1 {
		t.Errorf("%d token requests, want the exchange", r.schwab.Requests())
	}
	held := time.Now()
	lock.Unlock()
	v := <-visit
	if v.err != nil || v.v.Status != 200 {
		t.Fatalf("page: %+v", v)
	}
	if code := c.wait(t); code != 0 {
		t.Fatalf("exit %d\n%s", code, c.stderr.String())
	}
	r.checkNew(t, mustRead(t, r.tokens))
	checkMode(t, r.tokens, 0o640)
	t.Logf("the login wrote %v after the lock was released", time.Since(held).Round(time.Millisecond))
}

// --manual reads the redirected URL from standard input; the pasted URL's
// code is exchanged and the file written, in process.
func TestLoginManual(t *testing.T) {
	r := newLoginRig(t)
	inR, inW := io.Pipe()
	var stdout testutil.SyncBuffer
	done := make(chan error, 1)
	opened := make(chan string, 1)
	go func() {
		_, err := Login(context.Background(), LoginOptions{
			TokenFile: r.tokens, AppConfig: r.app, TokenURL: r.url, AuthorizeURL: r.authURL,
			HTTPTimeout: 5 * time.Second, LockTimeout: 5 * time.Second, CallbackTimeout: 10 * time.Second,
			Manual: true, Log: discard(), Stdin: inR, Stdout: &stdout,
			Open: func(u string) { opened <- u },
		})
		done <- err
	}()
	authURL, _, err := testutil.WaitLoginPrompt(stdout.String, true)
	if err != nil {
		t.Fatal(err)
	}
	if u := <-opened; u != authURL {
		t.Errorf("opened %q, want the printed %q", u, authURL)
	}
	var pasted string
	b := testutil.Browser{Redirect: func(cb *url.URL) error { pasted = cb.String(); return errors.New("no listener: paste it") }}
	if _, err := b.Login(authURL); err == nil || pasted == "" {
		t.Fatalf("no redirect: %v", err)
	}
	fmt.Fprintf(inW, "\n%s\n", pasted)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	inW.Close()
	r.checkNew(t, mustRead(t, r.tokens))
	if s := stdout.String(); !strings.Contains(s, "Logged in. New token file") || strings.Contains(s, r.schwab.RefreshToken()) {
		t.Errorf("stdout:\n%s", s)
	}
}

// The login's summary and page give the times, never a token.
func TestLoginSummary(t *testing.T) {
	var b bytes.Buffer
	f := newTokenFile(&oauth.Response{AccessToken: "AT-secret-value", RefreshToken: "RT-secret-value", ExpiresIn: 1800}, time.Unix(1_800_000_000, 0))
	printSummary(&b, "t.json", f)
	out := b.String()
	for _, want := range []string{"2027-01-15 08:30:00 UTC", "2027-01-22 08:00:00 UTC", "2027-01-21 20:00:00 UTC"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "secret-value") {
		t.Errorf("summary shows a token:\n%s", out)
	}
	var doc map[string]any
	if json.Unmarshal(f.Marshal(), &doc) != nil {
		t.Error("file is not JSON")
	}
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
	if cli.Login.CallbackTimeout != 2*time.Minute || !cli.Login.Manual || cli.Login.AuthorizeURL != oauth.DefaultAuthorizeURL || cli.Login.LockTimeout != 6*time.Minute {
		t.Errorf("login flags: %+v", cli.Login)
	}
}

// --no-browser opens nothing; the login still prints the URL.
func TestLoginNoBrowser(t *testing.T) {
	r := newLoginRig(t)
	var stdout bytes.Buffer
	_, err := Login(context.Background(), LoginOptions{
		TokenFile: r.tokens, AppConfig: r.app, TokenURL: r.url, AuthorizeURL: r.authURL,
		CallbackTimeout: 50 * time.Millisecond, NoBrowser: true, Log: discard(), Stdout: &stdout,
		Open: func(u string) { t.Errorf("opened %s with --no-browser", u) },
	})
	if exit.Code(err) != exit.TempFail || !strings.Contains(err.Error(), "no login within 50ms") {
		t.Errorf("err = %v", err)
	}
	if _, _, ok := testutil.LoginPrompt(stdout.String()); !ok {
		t.Errorf("no URL printed:\n%s", &stdout)
	}
}

// A real run holds the lock, its token request in flight (Schwab slow),
// when the login's code arrives: the login exchanges at once, waits for
// the lock and then writes. The run's refresh token was ended by the login,
// so the run fails (77) without writing; the file is the login's.
func TestLoginWaitsForARun(t *testing.T) {
	r := newLoginRig(t)
	r.schwab.SetModes(harness.ModeSlow, harness.ModeOK) // the run's request waits 3 s
	exe, _ := os.Executable()
	run := exec.Command(exe, "--token-file", r.tokens, "run", "--log-file=", "--socket", r.sock, "--retries", "1",
		"--app-config", r.app, "--token-url", r.url, "--force")
	run.Env = append(childEnviron(), childEnv+"=1")
	var runErr testutil.SyncBuffer
	run.Stderr = &runErr
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(10 * time.Second); r.schwab.Requests() < 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the run sent no token request")
		}
	}
	c := r.start(t, "")
	b, authURL := c.browser(t)
	v, err := b.Login(authURL)
	paged := time.Now()
	if err != nil || v.Status != 200 {
		t.Fatalf("page: %+v, %v\n%s", v, err, c.stderr.String())
	}
	run.Wait()
	if code := run.ProcessState.ExitCode(); code != exit.NoPerm {
		t.Errorf("run: exit %d, want 77 (its refresh token ended by the login)\n%s", code, runErr.String())
	}
	if code := c.wait(t); code != 0 {
		t.Fatalf("login: exit %d\n%s", code, c.stderr.String())
	}
	r.checkNew(t, mustRead(t, r.tokens))
	if d := paged.Sub(c.start); d < time.Second {
		t.Errorf("the page came %v after the login's start: it did not wait for the run", d)
	}
	t.Logf("page shown %v after the login started", paged.Sub(c.start).Round(time.Millisecond))
}
