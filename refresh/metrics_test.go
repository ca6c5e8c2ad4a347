package refresh

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/refresh-token/refresh-token/deliver"
	"github.com/refresh-token/refresh-token/harness"
	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/testutil"
)

const (
	testAppKey    = "metricsappkey"
	testAppSecret = "metricsappsecret"
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
	c.tokens = tokens(t, c.dir, time.Now().Unix()-3600, time.Now().Unix()-2*24*3600)
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

// parseMetrics reads a text exposition into name{labels} -> value, and
// checks that every sample has HELP and TYPE lines before it.
func parseMetrics(t *testing.T, data []byte) map[string]float64 {
	t.Helper()
	m := map[string]float64{}
	typed := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, kind, _ := strings.Cut(name, " ")
			if kind != "gauge" {
				t.Errorf("%s: type %q", name, kind)
			}
			typed[name] = true
			continue
		}
		if strings.HasPrefix(line, "# HELP ") {
			continue
		}
		key, val, ok := strings.Cut(line, " ")
		if !ok || strings.Contains(val, " ") {
			t.Errorf("sample %q: want exactly name and value, no timestamp", line)
			continue
		}
		name, _, _ := strings.Cut(key, "{")
		if !typed[name] {
			t.Errorf("sample %q before its # TYPE line", line)
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			t.Errorf("sample %q: %v", line, err)
		}
		m[key] = v
	}
	return m
}

func readMetrics(t *testing.T, path string) map[string]float64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"secret", "AT-", "RT-", "ID-", testAppKey} {
		if strings.Contains(string(data), secret) {
			t.Errorf("metrics contain %q:\n%s", secret, data)
		}
	}
	return parseMetrics(t, data)
}

// near checks a timestamp gauge against the test's clock.
func near(t *testing.T, name string, got float64, from, to int64) {
	t.Helper()
	if int64(got) < from || int64(got) > to {
		t.Errorf("%s = %v, want within [%d, %d]", name, got, from, to)
	}
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
	m := readMetrics(t, prom)
	created := before - 2*24*3600 // as tokens() wrote it, within a second
	near(t, metricLastRun, m[metricLastRun], before, after)
	if m[metricLastSuccess] != m[metricLastRun] {
		t.Errorf("last success %v != last run %v", m[metricLastSuccess], m[metricLastRun])
	}
	near(t, metricAccessExpiry, m[metricAccessExpiry], before+1800, after+1800)
	near(t, metricRefreshAge, m[metricRefreshAge]+float64(created), before-1, after+1)
	want := map[string]float64{metricExitCode: 0, metricDelivery: 1, metricAcknowledged: 1}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	for _, s := range stages {
		key := fmt.Sprintf("%s{stage=%q}", metricDuration, s)
		if d, ok := m[key]; !ok || d <= 0 || d > 10 {
			t.Errorf("%s = %v (present %v), want a positive duration", key, d, ok)
		}
	}
	if len(m) != 7+4 {
		t.Errorf("%d samples, want 11: %v", len(m), m)
	}
	st, _ := os.Stat(prom)
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644 for node_exporter", st.Mode().Perm())
	}
	firstSuccess := m[metricLastSuccess]
	expiry := m[metricAccessExpiry]

	// Schwab rejects the token: exit 77, the last success is carried over.
	// (That a failed run never sets it to now is TestWriteMetricsAtomic's,
	// with a clock of its own.)
	c.schwab.SetModes(harness.ModeInvalidGrant)
	if code := c.run(t, "--metrics-file", prom); code != exit.NoPerm {
		t.Fatalf("exit %d, want 77", code)
	}
	m = readMetrics(t, prom)
	if m[metricLastSuccess] != firstSuccess || m[metricLastRun] < firstSuccess {
		t.Errorf("after a failure: last success %v (want %v), last run %v", m[metricLastSuccess], firstSuccess, m[metricLastRun])
	}
	if m[metricExitCode] != exit.NoPerm || m[metricDelivery] != 0 || m[metricAccessExpiry] != expiry {
		t.Errorf("after a failure: %v", m)
	}
	if d := m[metricDuration+`{stage="write"}`]; d != 0 {
		t.Errorf("write stage = %v, want 0: the run never wrote", d)
	}

	// A run that fails before it reads the token file (no app config).
	var out, errb bytes.Buffer
	code := Main(Build{}, []string{"--log-file=", "--token-file", c.tokens, "--socket", c.sock,
		"run", "--app-config", filepath.Join(c.dir, "missing.yaml"), "--token-url", c.url, "--metrics-file", prom}, &out, &errb)
	if code != exit.NoInput {
		t.Fatalf("exit %d, want 66: %s", code, errb.String())
	}
	m = readMetrics(t, prom)
	if m[metricLastSuccess] != firstSuccess || m[metricExitCode] != exit.NoInput || m[metricAccessExpiry] != expiry {
		t.Errorf("failed before reading the file: %v", m)
	}
	if _, ok := m[metricRefreshAge]; !ok {
		t.Errorf("refresh token age missing: %v", m)
	}

	// No earlier metrics file: no success is known.
	fresh := filepath.Join(c.dir, "fresh.prom")
	if code := c.run(t, "--metrics-file", fresh); code != exit.NoPerm {
		t.Fatalf("exit %d, want 77", code)
	}
	if m := readMetrics(t, fresh); m[metricLastSuccess] != 0 {
		t.Errorf("last success with no history = %v, want 0", m[metricLastSuccess])
	}
	assertOnly(t, c.dir, "app.yaml", "fresh.prom", "refresh_token.prom", "tokens.json", "tokens.json.lock")
}

// assertOnly checks that dir holds exactly names: no temp file left over.
func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if diff := cmp.Diff(names, got); diff != "" {
		t.Errorf("files in %s (-want +got):\n%s", dir, diff)
	}
}

// The file is replaced by a rename, never rewritten in place, whatever the
// umask; a write that cannot finish leaves the old file and no temp file.
func TestWriteMetricsAtomic(t *testing.T) {
	dir := t.TempDir()
	prom := filepath.Join(dir, "refresh_token.prom")
	old := syscall.Umask(0o077)
	t.Cleanup(func() { syscall.Umask(old) })

	run := MetricsRun{ExitCode: 0, End: time.Unix(1_800_000_000, 0), Result: Result{Durations: map[string]time.Duration{}}}
	if err := WriteMetrics(prom, run); err != nil {
		t.Fatal(err)
	}
	st1, _ := os.Stat(prom)
	if st1.Mode().Perm() != 0o644 {
		t.Errorf("mode %v under umask 077, want 0644", st1.Mode().Perm())
	}
	run.ExitCode, run.End = exit.TempFail, run.End.Add(time.Minute)
	if err := WriteMetrics(prom, run); err != nil {
		t.Fatal(err)
	}
	st2, _ := os.Stat(prom)
	if os.SameFile(st1, st2) {
		t.Error("metrics file rewritten in place, want a new file renamed over it")
	}
	if m := readMetrics(t, prom); m[metricLastSuccess] != 1_800_000_000 || m[metricLastRun] != 1_800_000_060 || m[metricExitCode] != 75 {
		t.Errorf("second write: %v", m)
	}
	assertOnly(t, dir, "refresh_token.prom")

	// Renaming over a directory fails after the temp file is written.
	blocked := filepath.Join(dir, "blocked.prom")
	os.Mkdir(blocked, 0o700)
	os.WriteFile(filepath.Join(blocked, "x"), nil, 0o600)
	if err := WriteMetrics(blocked, run); err == nil {
		t.Error("write over a directory succeeded")
	}
	assertOnly(t, dir, "blocked.prom", "refresh_token.prom")
}

// The exposition, line by line, for a known run.
func TestMetricsText(t *testing.T) {
	dir := t.TempDir()
	f := tokens(t, dir, 1_800_001_800, 1_799_900_000)
	tf, err := ReadTokenFile(f, discard())
	if err != nil {
		t.Fatal(err)
	}
	got := string(Metrics(MetricsRun{
		Result: Result{File: tf, Delivered: true, Durations: map[string]time.Duration{
			StageLock: 1500 * time.Microsecond, StageRefresh: 250 * time.Millisecond, StageWrite: 3 * time.Millisecond, StageDeliver: time.Millisecond,
		}},
		ExitCode: 0,
		End:      time.Unix(1_800_000_000, 0),
	}, 1_700_000_000))
	var samples []string
	for _, l := range strings.Split(got, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			samples = append(samples, l)
		}
	}
	want := []string{
		"refresh_token_last_run_timestamp_seconds 1800000000",
		"refresh_token_last_success_timestamp_seconds 1800000000",
		"refresh_token_last_exit_code 0",
		"refresh_token_access_token_expiry_timestamp_seconds 1800001800",
		"refresh_token_refresh_token_age_seconds 100000",
		"refresh_token_delivery_success 1",
		"refresh_token_delivery_acknowledged 1",
		`refresh_token_duration_seconds{stage="lock"} 0.0015`,
		`refresh_token_duration_seconds{stage="refresh"} 0.25`,
		`refresh_token_duration_seconds{stage="write"} 0.003`,
		`refresh_token_duration_seconds{stage="deliver"} 0.001`,
	}
	if diff := cmp.Diff(want, samples); diff != "" {
		t.Errorf("samples (-want +got):\n%s", diff)
	}
	parseMetrics(t, []byte(got))
}

// The two outcomes of a delivery apart: acknowledged with OK, or, with
// --ack=none, sent without an acknowledgement to wait for.
func TestMetricsDeliveryOutcome(t *testing.T) {
	tests := []struct {
		ack                   deliver.Ack
		delivered             bool
		success, acknowledged float64
	}{
		{deliver.AckOK, true, 1, 1},
		{"", true, 1, 1},
		{deliver.AckNone, true, 1, 0},
		{deliver.AckOK, false, 0, 0},
		{deliver.AckNone, false, 0, 0},
	}
	for _, tt := range tests {
		m := parseMetrics(t, Metrics(MetricsRun{Result: Result{Delivered: tt.delivered}, Ack: tt.ack, End: time.Unix(1_800_000_000, 0)}, 0))
		if got := m["refresh_token_delivery_success"]; got != tt.success {
			t.Errorf("ack %q, delivered %v: delivery_success %v, want %v", tt.ack, tt.delivered, got, tt.success)
		}
		if got, ok := m["refresh_token_delivery_acknowledged"]; !ok || got != tt.acknowledged {
			t.Errorf("ack %q, delivered %v: delivery_acknowledged %v (present %v), want %v", tt.ack, tt.delivered, got, ok, tt.acknowledged)
		}
	}
}
