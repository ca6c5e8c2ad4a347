package refresh

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/harness"
	"github.com/refresh-token/refresh-token/internal/testutil"
	"github.com/refresh-token/refresh-token/oauth"
)

// The process tests (crash, concurrency) run this test binary as
// refresh-token: with childEnv set, the binary is Main and never reaches
// the tests. killAtEnv names a WriteFile step at which the child kills
// itself with SIGKILL, through the writeStep hook that only tests can set.
// An init function rather than TestMain, so that TestMain stays free for
// what wraps the tests.
const (
	childEnv  = "REFRESH_TOKEN_TEST_CHILD"
	killAtEnv = "REFRESH_TOKEN_TEST_KILL_AT"
	// stickAtEnv names a write step at which the child hangs for good,
	// deaf to every signal, as a process stuck on a dead disk would.
	stickAtEnv = "REFRESH_TOKEN_TEST_STICK_AT"
)

func init() {
	if os.Getenv(childEnv) == "" {
		return
	}
	if at := os.Getenv(killAtEnv); at != "" {
		writeStep = func(step string) {
			if step == at {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				time.Sleep(time.Minute) // never returns: SIGKILL cannot be caught
			}
		}
	}
	if at := os.Getenv(stickAtEnv); at != "" {
		writeStep = func(step string) {
			if step == at {
				fmt.Fprintf(os.Stderr, "stuck at %s\n", step)
				select {}
			}
		}
	}
	os.Exit(Main(Build{Version: "test"}, os.Args[1:], os.Stdout, os.Stderr))
}

// stressRuns is STRESS_RUNS, set by make stress to the number of random
// kills; 0 in make test.
func stressRuns(t *testing.T) int {
	s := os.Getenv("STRESS_RUNS")
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		t.Fatalf("STRESS_RUNS=%q: want a count", s)
	}
	return n
}

// scaled is short in make test, and perThousand per thousand STRESS_RUNS
// (at least short) in make stress.
func scaled(t *testing.T, short, perThousand int) int {
	if n := stressRuns(t); n > 0 {
		return max(short, n*perThousand/1000)
	}
	return short
}

// newRand returns a generator seeded from STRESS_SEED, or from the clock;
// the seed is logged so that a failure can be replayed.
func newRand(t *testing.T) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("STRESS_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("STRESS_SEED=%q: %v", s, err)
		}
	}
	t.Logf("STRESS_SEED=%d", seed)
	return rand.New(rand.NewPCG(seed, seed))
}

// rig is a token file, an app config and a fake Schwab endpoint on
// loopback, for refresh-token runs as child processes. The endpoint is
// wrapped to remember every access token it hands out, to report the
// moment it answers, and to count requests in flight at once.
type rig struct {
	dir, tokens, app, url, sock string
	schwab                      *harness.Schwab

	answered chan time.Time // a token answer is being sent; dropped when full

	mu          sync.Mutex
	issued      map[string]bool
	inFlight    int
	maxInFlight int
}

const rigRefreshToken = "RT-crash-refresh"

// newRig starts the endpoint with cfg (app and refresh token filled in)
// and writes a token file issued an hour ago, mode 0640, with unknown
// fields at both levels.
func newRig(t *testing.T, cfg harness.SchwabConfig) *rig {
	t.Helper()
	r := &rig{dir: t.TempDir(), issued: map[string]bool{}, answered: make(chan time.Time, 1)}
	cfg.AppKey, cfg.AppSecret, cfg.RefreshToken = "crashappkey", "crashappsecret", rigRefreshToken
	r.schwab = harness.NewSchwab(cfg)
	srv := httptest.NewServer(r)
	t.Cleanup(func() { r.schwab.Close(); srv.Close() })
	r.url = srv.URL + harness.TokenPath

	r.app = filepath.Join(r.dir, "app.yaml")
	if err := os.WriteFile(r.app, []byte("app_key: crashappkey\napp_secret: crashappsecret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.tokens = filepath.Join(r.dir, "tokens.json")
	r.writeTokens(t, time.Now().Add(-time.Hour))
	r.sock = filepath.Join(r.dir, "no-bot.sock") // absent: delivery warns at once
	return r
}

// writeTokens writes the token file as the bot's original Python sender
// would (indent=4), the access token issued at issued, and returns its
// content.
func (r *rig) writeTokens(t *testing.T, issued time.Time) []byte {
	t.Helper()
	data := fmt.Appendf(nil, `{
    "creation_timestamp": %d,
    "dashboard_note": "kept",
    "token": {
        "expires_in": 1800,
        "token_type": "Bearer",
        "scope": "api",
        "refresh_token": %q,
        "access_token": "AT-seed-access",
        "id_token": "ID-seed",
        "expires_at": %d,
        "x_unknown": [1, 2]
    }
}
`, issued.Add(-48*time.Hour).Unix(), rigRefreshToken, issued.Unix()+1800)
	if err := os.WriteFile(r.tokens, data, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(r.tokens, 0o640); err != nil {
		t.Fatal(err)
	}
	return data
}

func (r *rig) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.inFlight++
	r.maxInFlight = max(r.maxInFlight, r.inFlight)
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.inFlight--
		r.mu.Unlock()
	}()
	r.schwab.ServeHTTP(&teeWriter{ResponseWriter: w, rig: r}, req)
}

// teeWriter notes a token answer before the client can see it.
type teeWriter struct {
	http.ResponseWriter
	rig *rig
	buf bytes.Buffer
}

func (w *teeWriter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	var resp oauth.Response
	if json.Unmarshal(w.buf.Bytes(), &resp) == nil && resp.AccessToken != "" {
		w.rig.mu.Lock()
		w.rig.issued[resp.AccessToken] = true
		w.rig.mu.Unlock()
		select {
		case w.rig.answered <- time.Now():
		default:
		}
	}
	return w.ResponseWriter.Write(p)
}

func (r *rig) wasIssued(accessToken string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.issued[accessToken]
}

// child is one refresh-token process.
type child struct {
	cmd    *exec.Cmd
	stderr testutil.SyncBuffer
	start  time.Time
	cancel context.CancelFunc
}

// start runs refresh-token on the rig's files with extra args; killAt, if
// set, is the write step at which the child kills itself.
func (r *rig) start(t *testing.T, killAt string, args ...string) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	base := []string{"--log-file=", "--token-file", r.tokens, "--socket", r.sock, "--retries", "1",
		"run", "--app-config", r.app, "--token-url", r.url}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	c := &child{cancel: cancel}
	c.cmd = exec.CommandContext(ctx, exe, append(base, args...)...)
	// The race detector keeps a process alive for a second after exit
	// unless told not to.
	gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	c.cmd.Env = append(childEnviron(), childEnv+"=1", killAtEnv+"="+killAt, "GORACE="+gorace)
	c.cmd.Stderr = &c.stderr
	c.start = time.Now()
	if err := c.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	return c
}

// childEnviron is the test's environment without anything that would
// configure refresh-token behind the test's back.
func childEnviron() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "REFRESH_TOKEN_") || strings.HasPrefix(kv, "CREDENTIALS_DIRECTORY=") ||
			strings.HasPrefix(kv, "GOCOVERDIR=") || strings.HasPrefix(kv, "GORACE=")
	})
}

// wait returns the exit code, or -1 when SIGKILL ended the child.
func (c *child) wait(t *testing.T) int {
	t.Helper()
	defer c.cancel()
	err := c.cmd.Wait()
	ws, _ := c.cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case ws.Signaled() && ws.Signal() == syscall.SIGKILL:
		return -1
	case err != nil && ws.Signaled():
		t.Fatalf("child ended by %v\n%s", ws.Signal(), c.stderr.String())
	}
	return c.cmd.ProcessState.ExitCode()
}

// run runs refresh-token to its end and returns its exit code and stderr.
func (r *rig) run(t *testing.T, args ...string) (int, string) {
	t.Helper()
	c := r.start(t, "", args...)
	code := c.wait(t)
	return code, c.stderr.String()
}

// leftovers lists the files beside the token file other than the token
// file, its lock and the app config.
func (r *rig) leftovers(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	var extra []string
	for _, e := range entries {
		switch e.Name() {
		case "tokens.json", "tokens.json.lock", "app.yaml":
		default:
			extra = append(extra, e.Name())
		}
	}
	return extra
}

// whole checks got, the token file after a run, against old, the file
// before it: it must be old byte for byte, or exactly what a complete
// write of one of the endpoint's answers makes of old. It returns "old" or
// "new".
func (r *rig) whole(old, got []byte) (string, error) {
	if bytes.Equal(got, old) {
		return "old", nil
	}
	nf, err := ParseTokenFile(got)
	if err != nil {
		return "", fmt.Errorf("token file is neither the old one nor whole: %v\n%s", err, got)
	}
	if nf.Token.RefreshToken != rigRefreshToken {
		return "", fmt.Errorf("refresh token %q, want %q", nf.Token.RefreshToken, rigRefreshToken)
	}
	if !r.wasIssued(nf.Token.AccessToken) {
		return "", fmt.Errorf("access token %q was never issued by the endpoint", nf.Token.AccessToken)
	}
	of, err := ParseTokenFile(old)
	if err != nil {
		return "", fmt.Errorf("old file: %v", err)
	}
	t := nf.Token
	of.Apply(&oauth.Response{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, IDToken: t.IDToken,
		TokenType: t.TokenType, Scope: t.Scope, ExpiresIn: t.ExpiresIn}, time.Unix(t.ExpiresAt-t.ExpiresIn, 0))
	if want := of.Marshal(); !bytes.Equal(want, got) {
		return "", fmt.Errorf("new token file differs from a complete write:\n got %s\nwant %s", got, want)
	}
	return "new", nil
}
