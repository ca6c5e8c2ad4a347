package cli

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/harness"
	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/testutil"
	"github.com/refresh-token/refresh-token/refresh"
)

// cycle is one refresh-token set-up on loopback: a fake Schwab endpoint, a
// bot-sim receiver, an app config and a token file.
type cycle struct {
	dir, tokens, app, url, sock string
	schwab                      *harness.Schwab
}

func newCycle(t *testing.T) *cycle {
	t.Helper()
	c := &cycle{dir: t.TempDir()}
	c.schwab = harness.NewSchwab(harness.SchwabConfig{AppKey: testAppKey, AppSecret: testAppSecret, RefreshToken: "RT-secret-refresh"})
	srv := httptest.NewServer(c.schwab)
	t.Cleanup(srv.Close)
	c.url = srv.URL + harness.TokenPath

	c.sock = filepath.Join(testutil.ShortTempDir(t), "bot.sock")
	bot := &harness.Receiver{Path: c.sock}
	if err := bot.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { bot.Serve(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })

	c.app = filepath.Join(c.dir, "app.yaml")
	os.WriteFile(c.app, []byte("app_key: "+testAppKey+"\napp_secret: "+testAppSecret+"\n"), 0o600)
	// Issued long ago: every run refreshes.
	c.tokens = testutil.Tokens(t, c.dir, time.Now().Unix()-3600, time.Now().Unix()-2*24*3600)
	return c
}

// run runs refresh-token with the cycle's files and extra args; it returns
// the exit code.
func (c *cycle) run(t *testing.T, args ...string) int {
	t.Helper()
	var out, errb bytes.Buffer
	base := []string{"--log-file=", "--token-file", c.tokens, "--socket", c.sock, "--retries", "1",
		"run", "--app-config", c.app, "--token-url", c.url, "--force"}
	code := Main(Build{}, append(base, args...), &out, &errb)
	t.Logf("refresh-token %v: exit %d\n%s", args, code, errb.String())
	return code
}

// A successful run writes every metric; a failed run keeps the last
// success; a run that fails before reading the token file still reports
// the token's expiry; a run with no earlier success reports 0.
func TestMetricsAcrossRuns(t *testing.T) {
	c := newCycle(t)
	prom := filepath.Join(c.dir, "refresh_token.prom")
	before := time.Now().Unix()
	if code := c.run(t, "--metrics-file", prom); code != 0 {
		t.Fatalf("exit %d", code)
	}
	after := time.Now().Unix()
	m := testutil.ReadMetrics(t, prom)
	created := before - 2*24*3600 // as tokens() wrote it, within a second
	testutil.Near(t, "refresh_token_last_run_timestamp_seconds", m["refresh_token_last_run_timestamp_seconds"], before, after)
	if m["refresh_token_last_success_timestamp_seconds"] != m["refresh_token_last_run_timestamp_seconds"] {
		t.Errorf("last success %v != last run %v", m["refresh_token_last_success_timestamp_seconds"], m["refresh_token_last_run_timestamp_seconds"])
	}
	testutil.Near(t, "refresh_token_access_token_expiry_timestamp_seconds", m["refresh_token_access_token_expiry_timestamp_seconds"], before+1800, after+1800)
	testutil.Near(t, "refresh_token_refresh_token_age_seconds", m["refresh_token_refresh_token_age_seconds"]+float64(created), before-1, after+1)
	want := map[string]float64{"refresh_token_last_exit_code": 0, "refresh_token_delivery_success": 1, "refresh_token_delivery_acknowledged": 1}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	for _, s := range []string{refresh.StageLock, refresh.StageRefresh, refresh.StageWrite, refresh.StageDeliver} {
		key := fmt.Sprintf("%s{stage=%q}", "refresh_token_duration_seconds", s)
		if d, ok := m[key]; !ok || d <= 0 || d > 10 {
			t.Errorf("%s = %v (present %v), want a positive duration", key, d, ok)
		}
	}
	if key := fmt.Sprintf(`refresh_token_delivery_reply{socket=%q,reply="ok"}`, c.sock); m[key] != 1 {
		t.Errorf("no %s: %v", key, m)
	}
	if len(m) != 7+4+1 {
		t.Errorf("%d samples, want 12: %v", len(m), m)
	}
	st, _ := os.Stat(prom)
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644 for node_exporter", st.Mode().Perm())
	}
	firstSuccess := m["refresh_token_last_success_timestamp_seconds"]
	expiry := m["refresh_token_access_token_expiry_timestamp_seconds"]

	// Schwab rejects the token: exit 77, the last success is carried over.
	// (That a failed run never sets it to now is TestWriteMetricsAtomic's,
	// with a clock of its own.)
	c.schwab.SetModes(harness.ModeInvalidGrant)
	if code := c.run(t, "--metrics-file", prom); code != exit.NoPerm {
		t.Fatalf("exit %d, want 77", code)
	}
	m = testutil.ReadMetrics(t, prom)
	if m["refresh_token_last_success_timestamp_seconds"] != firstSuccess || m["refresh_token_last_run_timestamp_seconds"] < firstSuccess {
		t.Errorf("after a failure: last success %v (want %v), last run %v", m["refresh_token_last_success_timestamp_seconds"], firstSuccess, m["refresh_token_last_run_timestamp_seconds"])
	}
	if m["refresh_token_last_exit_code"] != exit.NoPerm || m["refresh_token_delivery_success"] != 0 || m["refresh_token_access_token_expiry_timestamp_seconds"] != expiry {
		t.Errorf("after a failure: %v", m)
	}
	if d := m[`refresh_token_duration_seconds{stage="write"}`]; d != 0 {
		t.Errorf("write stage = %v, want 0: the run never wrote", d)
	}

	// A run that fails before it reads the token file (no app config).
	var out, errb bytes.Buffer
	code := Main(Build{}, []string{"--log-file=", "--token-file", c.tokens, "--socket", c.sock,
		"run", "--app-config", filepath.Join(c.dir, "missing.yaml"), "--token-url", c.url, "--metrics-file", prom}, &out, &errb)
	if code != exit.NoInput {
		t.Fatalf("exit %d, want 66: %s", code, errb.String())
	}
	m = testutil.ReadMetrics(t, prom)
	if m["refresh_token_last_success_timestamp_seconds"] != firstSuccess || m["refresh_token_last_exit_code"] != exit.NoInput || m["refresh_token_access_token_expiry_timestamp_seconds"] != expiry {
		t.Errorf("failed before reading the file: %v", m)
	}
	if _, ok := m["refresh_token_refresh_token_age_seconds"]; !ok {
		t.Errorf("refresh token age missing: %v", m)
	}

	// No earlier metrics file: no success is known.
	fresh := filepath.Join(c.dir, "fresh.prom")
	if code := c.run(t, "--metrics-file", fresh); code != exit.NoPerm {
		t.Fatalf("exit %d, want 77", code)
	}
	if m := testutil.ReadMetrics(t, fresh); m["refresh_token_last_success_timestamp_seconds"] != 0 {
		t.Errorf("last success with no history = %v, want 0", m["refresh_token_last_success_timestamp_seconds"])
	}
	testutil.OnlyFiles(t, c.dir, "app.yaml", "fresh.prom", "refresh_token.prom", "tokens.json", "tokens.json.lock")
}

const (
	testAppKey    = "metricsappkey"
	testAppSecret = "metricsappsecret"
)
