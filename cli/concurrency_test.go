package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/harness"
	"github.com/refresh-token/refresh-token/internal/fixture"
	"github.com/refresh-token/refresh-token/internal/testutil"
)

// concurrentRuns is how many refresh-token processes start at once.
const concurrentRuns = 20

// Twenty runs at once: the lock serialises them and the 60 s guard makes
// the nineteen that follow the first skip, so Schwab sees one request and
// every run exits 0.
func TestConcurrentRunsMakeOneRequest(t *testing.T) {
	rounds := fixture.Scaled(t, 1, 25)
	for round := range rounds {
		// Slow enough that every run queues on the lock of the first.
		r := fixture.NewRig(t, harness.SchwabConfig{Modes: []harness.Mode{harness.ModeSlow}, Delay: 200 * time.Millisecond})
		old := r.WriteTokens(t, time.Now().Add(-25*time.Minute))
		stderrs := runAll(t, r, concurrentRuns)
		refreshed, skipped := 0, 0
		for _, s := range stderrs {
			refreshed += strings.Count(s, "Token refreshed successfully")
			skipped += strings.Count(s, "Skipping refresh: access token was issued")
		}
		if refreshed != 1 || skipped != concurrentRuns-1 || r.Schwab.Requests() != 1 {
			t.Fatalf("round %d: %d refreshed, %d skipped, %d requests; want 1, %d, 1\n%s",
				round, refreshed, skipped, r.Schwab.Requests(), concurrentRuns-1, strings.Join(stderrs, "\n"))
		}
		if outcome, err := r.Whole(old, testutil.Read(t, r.Tokens)); err != nil || outcome != "new" {
			t.Fatalf("round %d: file is %q: %v", round, outcome, err)
		}
		if left := r.Leftovers(t); len(left) > 0 {
			t.Fatalf("round %d: left %v", round, left)
		}
	}
	t.Logf("%d rounds of %d runs at once: all %d exited 0, one request and one refresh per round",
		rounds, concurrentRuns, rounds*concurrentRuns)
}

// Twenty forced runs at once all refresh, one after the other: the
// endpoint never has two requests in flight, because each run holds the
// lock from before it reads the file until it has written it.
func TestConcurrentForcedRunsNeverOverlap(t *testing.T) {
	rounds := fixture.Scaled(t, 1, 25)
	for round := range rounds {
		r := fixture.NewRig(t, harness.SchwabConfig{Modes: []harness.Mode{harness.ModeSlow}, Delay: 10 * time.Millisecond})
		old := testutil.Read(t, r.Tokens)
		runAll(t, r, concurrentRuns, "--force")
		_, peak := r.InFlight()
		if r.Schwab.Requests() != concurrentRuns || peak != 1 {
			t.Fatalf("round %d: %d requests, at most %d at once; want %d, 1", round, r.Schwab.Requests(), peak, concurrentRuns)
		}
		if outcome, err := r.Whole(old, testutil.Read(t, r.Tokens)); err != nil || outcome != "new" {
			t.Fatalf("round %d: file is %q: %v", round, outcome, err)
		}
		if left := r.Leftovers(t); len(left) > 0 {
			t.Fatalf("round %d: left %v", round, left)
		}
	}
	t.Logf("%d rounds of %d forced runs at once: all %d exited 0 and refreshed, never two requests in flight",
		rounds, concurrentRuns, rounds*concurrentRuns)
}

// runAll starts n runs at once and returns their stderr; every run must
// exit 0.
func runAll(t *testing.T, r *fixture.Rig, n int, args ...string) []string {
	t.Helper()
	args = append([]string{"--lock-timeout", "50s"}, args...)
	children := make([]*fixture.Child, n)
	for i := range children {
		children[i] = r.Start(t, "", args...)
	}
	stderrs := make([]string, n)
	for i, c := range children {
		if code := c.Wait(t); code != 0 {
			t.Errorf("run %d: exit %d\n%s", i, code, c.Stderr.String())
		}
		stderrs[i] = c.Stderr.String()
	}
	if t.Failed() {
		t.FailNow()
	}
	return stderrs
}

// The same as a process: the run reads the half-written file again.
func TestProcessWhileFileIsRewrittenInPlace(t *testing.T) {
	r := fixture.NewRig(t, harness.SchwabConfig{})
	data := fixture.DashboardFile(0)
	started, hold, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() { done <- testutil.RewriteInPlace(r.Tokens, data, 4, 20*time.Millisecond, started, hold) }()
	<-started
	c := r.Start(t, "", "--log-level", "debug")
	go testutil.CloseWhen(hold, c.Stderr.String, fixture.RereadLine)
	code := c.Wait(t)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if code != 0 || !strings.Contains(c.Stderr.String(), fixture.RereadLine) {
		t.Fatalf("exit %d, want 0 after reading the file again\n%s", code, c.Stderr.String())
	}
	if outcome, err := r.Whole(data, testutil.Read(t, r.Tokens)); err != nil || outcome != "new" {
		t.Fatalf("file is %q: %v", outcome, err)
	}
}
