package refresh

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/refresh-token/refresh-token/deliver"
	"github.com/refresh-token/refresh-token/harness"
	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/fixture"
	"github.com/refresh-token/refresh-token/internal/testutil"
	"github.com/refresh-token/refresh-token/store"
)

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
	if m := testutil.ReadMetrics(t, prom); m[metricLastSuccess] != 1_800_000_000 || m[metricLastRun] != 1_800_000_060 || m[metricExitCode] != 75 {
		t.Errorf("second write: %v", m)
	}
	testutil.OnlyFiles(t, dir, "refresh_token.prom")

	// Renaming over a directory fails after the temp file is written.
	blocked := filepath.Join(dir, "blocked.prom")
	os.Mkdir(blocked, 0o700)
	os.WriteFile(filepath.Join(blocked, "x"), nil, 0o600)
	if err := WriteMetrics(blocked, run); err == nil {
		t.Error("write over a directory succeeded")
	}
	testutil.OnlyFiles(t, dir, "blocked.prom", "refresh_token.prom")
}

// The exposition, line by line, for a known run.
func TestMetricsText(t *testing.T) {
	dir := t.TempDir()
	f := testutil.Tokens(t, dir, 1_800_001_800, 1_799_900_000)
	tf, err := store.ReadTokenFile(context.Background(), f, discard())
	if err != nil {
		t.Fatal(err)
	}
	got := string(Metrics(MetricsRun{
		Result: Result{File: tf, Delivered: true, Replies: []Reply{{Socket: "/run/bot.sock", Reply: deliver.ReplyOK}}, Durations: map[string]time.Duration{
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
		`refresh_token_delivery_reply{socket="/run/bot.sock",reply="ok"} 1`,
		`refresh_token_duration_seconds{stage="lock"} 0.0015`,
		`refresh_token_duration_seconds{stage="refresh"} 0.25`,
		`refresh_token_duration_seconds{stage="write"} 0.003`,
		`refresh_token_duration_seconds{stage="deliver"} 0.001`,
	}
	if diff := cmp.Diff(want, samples); diff != "" {
		t.Errorf("samples (-want +got):\n%s", diff)
	}
	testutil.ParseMetrics(t, []byte(got))
}

// What each socket did with the token: the success gauge counts every
// delivery, the acknowledged gauge only OK from every socket, and one
// reply gauge a socket says which answer it gave.
func TestMetricsDeliveryOutcome(t *testing.T) {
	tests := []struct {
		replies               []deliver.Reply
		success, acknowledged float64
	}{
		{[]deliver.Reply{deliver.ReplyOK}, 1, 1},
		{[]deliver.Reply{deliver.ReplyOK, deliver.ReplyOK}, 1, 1},
		{[]deliver.Reply{deliver.ReplyClosed}, 1, 0},
		{[]deliver.Reply{deliver.ReplyNone}, 1, 0},
		{[]deliver.Reply{deliver.ReplyOK, deliver.ReplyClosed}, 1, 0},
		{[]deliver.Reply{deliver.ReplyOK, ""}, 0, 0},
		{[]deliver.Reply{""}, 0, 0},
		{nil, 0, 0},
	}
	for _, tt := range tests {
		var res Result
		for i, r := range tt.replies {
			res.Replies = append(res.Replies, Reply{Socket: fmt.Sprintf("/run/bot%d.sock", i), Reply: r})
		}
		res.Delivered = Delivered(res.Replies)
		m := testutil.ParseMetrics(t, Metrics(MetricsRun{Result: res, End: time.Unix(1_800_000_000, 0)}, 0))
		if got := m["refresh_token_delivery_success"]; got != tt.success {
			t.Errorf("replies %q: delivery_success %v, want %v", tt.replies, got, tt.success)
		}
		if got, ok := m["refresh_token_delivery_acknowledged"]; !ok || got != tt.acknowledged {
			t.Errorf("replies %q: delivery_acknowledged %v (present %v), want %v", tt.replies, got, ok, tt.acknowledged)
		}
		if got := string(Metrics(MetricsRun{Result: res, End: time.Unix(1_800_000_000, 0)}, 0)); len(tt.replies) == 0 && strings.Contains(got, "refresh_token_delivery_reply") {
			t.Errorf("a reply gauge, or its HELP, without a socket:\n%s", got)
		}
		for i, r := range tt.replies {
			want := string(r)
			if want == "" {
				want = "failed"
			}
			if key := fmt.Sprintf(`refresh_token_delivery_reply{socket="/run/bot%d.sock",reply=%q}`, i, want); m[key] != 1 {
				t.Errorf("replies %q: no %s", tt.replies, key)
			}
		}
	}
}

// A run that failed before reading the token file still reports the
// token's gauges, read once from TokenFile; with no file at all there are
// none.
func TestMetricsPeekTokenFile(t *testing.T) {
	f := testutil.Tokens(t, t.TempDir(), 1_800_001_800, 1_799_900_000)
	end := time.Unix(1_800_000_000, 0)
	got := string(Metrics(MetricsRun{ExitCode: 75, TokenFile: f, End: end}, 0))
	for _, want := range []string{"\nrefresh_token_access_token_expiry_timestamp_seconds 1800001800\n", "\nrefresh_token_refresh_token_age_seconds 100000\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("metrics lack %q:\n%s", want, got)
		}
	}
	if got := string(Metrics(MetricsRun{ExitCode: 66, End: end}, 0)); strings.Contains(got, "expiry_timestamp") || strings.Contains(got, "age_seconds") {
		t.Errorf("token gauges without a token file:\n%s", got)
	}
}

// A run that skips releases the lock once, before it delivers: the release
// at its end finds nothing to do and says nothing.
func TestSkippedRunReleasesLockOnce(t *testing.T) {
	r := fixture.NewRig(t, harness.SchwabConfig{})
	r.WriteTokens(t, time.Now().Add(-10*time.Second)) // issued by another run
	var logs bytes.Buffer
	o := options(r, &logs)
	o.Delivery.Sockets = nil // no bot: nothing to warn about
	res, err := Run(context.Background(), o)
	if err != nil || res.Skipped == "" {
		t.Fatalf("skipped %q, err %v\n%s", res.Skipped, err, logs.String())
	}
	if strings.Contains(logs.String(), "Release lock") || strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("warnings in a clean skip:\n%s", logs.String())
	}
}

// A new refresh token in the answer restarts the 7-day clock, and the log
// says so; the same one says nothing of the kind.
func TestNewRefreshTokenLogged(t *testing.T) {
	for _, rotate := range []bool{false, true} {
		r := fixture.NewRig(t, harness.SchwabConfig{})
		rt := fixture.RefreshToken
		if rotate {
			rt = "RT-rotated-0123"
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, `{"access_token":"AT-new","refresh_token":"`+rt+`","expires_in":1800,"token_type":"Bearer"}`)
		}))
		var logs bytes.Buffer
		o := options(r, &logs)
		o.TokenURL, o.Force, o.Delivery.Sockets = srv.URL, true, nil
		_, err := Run(context.Background(), o)
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(logs.String(), "Schwab issued a new refresh token"); got != rotate {
			t.Errorf("rotated %v: logged a new refresh token %v\n%s", rotate, got, logs.String())
		}
	}
}
