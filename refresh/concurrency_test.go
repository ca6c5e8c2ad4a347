package refresh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/harness"
	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/testutil"
)

// concurrentRuns is how many refresh-token processes start at once.
const concurrentRuns = 20

// Twenty runs at once: the lock serialises them and the 60 s guard makes
// the nineteen that follow the first skip, so Schwab sees one request and
// every run exits 0.
func TestConcurrentRunsMakeOneRequest(t *testing.T) {
	rounds := scaled(t, 1, 25)
	for round := range rounds {
		// Slow enough that every run queues on the lock of the first.
		r := newRig(t, harness.SchwabConfig{Modes: []harness.Mode{harness.ModeSlow}, Delay: 200 * time.Millisecond})
		old := r.writeTokens(t, time.Now().Add(-25*time.Minute))
		stderrs := r.runAll(t, concurrentRuns)
		refreshed, skipped := 0, 0
		for _, s := range stderrs {
			refreshed += strings.Count(s, "Token refreshed successfully")
			skipped += strings.Count(s, "Skipping refresh: access token was issued")
		}
		if refreshed != 1 || skipped != concurrentRuns-1 || r.schwab.Requests() != 1 {
			t.Fatalf("round %d: %d refreshed, %d skipped, %d requests; want 1, %d, 1\n%s",
				round, refreshed, skipped, r.schwab.Requests(), concurrentRuns-1, strings.Join(stderrs, "\n"))
		}
		if outcome, err := r.whole(old, mustRead(t, r.tokens)); err != nil || outcome != "new" {
			t.Fatalf("round %d: file is %q: %v", round, outcome, err)
		}
		if left := r.leftovers(t); len(left) > 0 {
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
	rounds := scaled(t, 1, 25)
	for round := range rounds {
		r := newRig(t, harness.SchwabConfig{Modes: []harness.Mode{harness.ModeSlow}, Delay: 10 * time.Millisecond})
		old := mustRead(t, r.tokens)
		r.runAll(t, concurrentRuns, "--force")
		r.mu.Lock()
		peak := r.maxInFlight
		r.mu.Unlock()
		if r.schwab.Requests() != concurrentRuns || peak != 1 {
			t.Fatalf("round %d: %d requests, at most %d at once; want %d, 1", round, r.schwab.Requests(), peak, concurrentRuns)
		}
		if outcome, err := r.whole(old, mustRead(t, r.tokens)); err != nil || outcome != "new" {
			t.Fatalf("round %d: file is %q: %v", round, outcome, err)
		}
		if left := r.leftovers(t); len(left) > 0 {
			t.Fatalf("round %d: left %v", round, left)
		}
	}
	t.Logf("%d rounds of %d forced runs at once: all %d exited 0 and refreshed, never two requests in flight",
		rounds, concurrentRuns, rounds*concurrentRuns)
}

// runAll starts n runs at once and returns their stderr; every run must
// exit 0.
func (r *rig) runAll(t *testing.T, n int, args ...string) []string {
	t.Helper()
	args = append([]string{"--lock-timeout", "50s"}, args...)
	children := make([]*child, n)
	for i := range children {
		children[i] = r.start(t, "", args...)
	}
	stderrs := make([]string, n)
	for i, c := range children {
		if code := c.wait(t); code != 0 {
			t.Errorf("run %d: exit %d\n%s", i, code, c.stderr.String())
		}
		stderrs[i] = c.stderr.String()
	}
	if t.Failed() {
		t.FailNow()
	}
	return stderrs
}

// rewriteInPlace rewrites path the way schwab-py does: truncate, then
// write data in pieces with a pause between them, no lock, no rename.
// started is closed once the file holds the first piece only; then it
// waits until hold is closed, if it is not nil: the test closes it once
// the run has read the half-written file.
func rewriteInPlace(path string, data []byte, pieces int, pause time.Duration, started chan<- struct{}, hold <-chan struct{}) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		close(started)
		return err
	}
	defer f.Close()
	size := len(data)/pieces + 1
	for i := 0; len(data) > 0; i++ {
		n := min(size, len(data))
		if _, err := f.Write(data[:n]); err != nil {
			return err
		}
		data = data[n:]
		if i == 0 {
			close(started)
		}
		if i == 0 && hold != nil {
			if err := waitHold(f, path, hold); err != nil {
				return err
			}
		}
		if len(data) > 0 {
			time.Sleep(pause)
		}
	}
	return nil
}

// errReplaced is a hold that cannot end: a run renamed its file over the
// path between its read and the writer's truncation, so the half-written
// file is no longer the one at path and no run will read it.
var errReplaced = errors.New("the half-written file was replaced by a run's rename")

// waitHold waits until hold is closed, while the file at path is still f.
func waitHold(f *os.File, path string, hold <-chan struct{}) error {
	mine, err := f.Stat()
	if err != nil {
		return err
	}
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); {
		select {
		case <-hold:
			return nil
		case <-time.After(time.Millisecond):
		}
		if now, err := os.Stat(path); err == nil && !os.SameFile(mine, now) {
			return errReplaced
		}
	}
	return errors.New("the run never read the half-written file")
}

// closeWhen closes c once s() contains line, or after 10 s.
func closeWhen(c chan<- struct{}, s func() string, line string) {
	defer close(c)
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if strings.Contains(s(), line) {
			return
		}
	}
}

// dashboardFile is what schwab-py writes in round i: a token file issued
// an hour ago with a field the run must keep.
func (r *rig) dashboardFile(round int) []byte {
	issued := time.Now().Add(-time.Hour)
	return fmt.Appendf(nil, `{"creation_timestamp": %d, "dashboard_round": %d, "token": {"expires_in": 1800, "token_type": "Bearer", "scope": "api", "refresh_token": %q, "access_token": "AT-dashboard-%d", "id_token": "ID", "expires_at": %d}}`,
		issued.Add(-48*time.Hour).Unix(), round, rigRefreshToken, round, issued.Unix()+1800)
}

const rereadLine = "reading it again in case a writer was mid-write"

// A writer that rewrites the token file in place while a run reads it (as
// schwab-py does): the run reads the half-written file again after a pause
// instead of failing, refreshes, and leaves a whole file that keeps what
// the writer wrote. The writer finishes within the pauses (100 ms, then
// 400 ms) in every round; rounds 0 and 1 hold the file half-written until
// the run has read it, so that they prove the second read every time.
func TestRunWhileFileIsRewrittenInPlace(t *testing.T) {
	r := newRig(t, harness.SchwabConfig{})
	rng := newRand(t)
	rounds := scaled(t, 3, 200)
	caught := 0
	for round := range rounds {
		data := r.dashboardFile(round)
		// Round 0 completes the file while the run pauses the first time,
		// round 1 only during the second pause; both wait until the run
		// has read the half-written file. Later rounds are left to chance:
		// 2 to 5 pieces, up to 60 ms apart.
		var logs testutil.SyncBuffer
		var hold chan struct{}
		pieces, pause := 3, 10*time.Millisecond
		switch {
		case round == 0:
			hold = make(chan struct{})
		case round == 1:
			hold = make(chan struct{})
			pieces, pause = 4, 60*time.Millisecond
		default:
			pieces, pause = 2+rng.IntN(4), time.Duration(rng.Int64N(int64(60*time.Millisecond)))
		}
		started, done := make(chan struct{}), make(chan error, 1)
		go func() { done <- rewriteInPlace(r.tokens, data, pieces, pause, started, hold) }()
		<-started
		if hold != nil {
			go closeWhen(hold, logs.String, rereadLine)
		}
		res, err := Run(context.Background(), r.options(&logs))
		if werr := <-done; werr != nil {
			t.Fatal(werr)
		}
		if err != nil || !res.Refreshed {
			t.Fatalf("round %d (%d pieces, %v apart): refreshed %v, %v\n%s", round, pieces, pause, res.Refreshed, err, logs.String())
		}
		if outcome, err := r.whole(data, mustRead(t, r.tokens)); err != nil || outcome != "new" {
			t.Fatalf("round %d: file is %q: %v", round, outcome, err)
		}
		n := strings.Count(logs.String(), rereadLine)
		if n > 0 {
			caught++
		}
		if round == 0 && n < 1 || round == 1 && n != 2 {
			t.Errorf("round %d: read the file again %d times, want %s\n%s", round, n, []string{"at least once", "twice"}[round], logs.String())
		}
	}
	t.Logf("rewritten in place during %d runs: %d read it half-written and again later; %d/%d refreshed to a whole file", rounds, caught, rounds, rounds)
}

// The same as a process: the run reads the half-written file again.
func TestProcessWhileFileIsRewrittenInPlace(t *testing.T) {
	r := newRig(t, harness.SchwabConfig{})
	data := r.dashboardFile(0)
	started, hold, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() { done <- rewriteInPlace(r.tokens, data, 4, 20*time.Millisecond, started, hold) }()
	<-started
	c := r.start(t, "", "--log-level", "debug")
	go closeWhen(hold, c.stderr.String, rereadLine)
	code := c.wait(t)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if code != 0 || !strings.Contains(c.stderr.String(), rereadLine) {
		t.Fatalf("exit %d, want 0 after reading the file again\n%s", code, c.stderr.String())
	}
	if outcome, err := r.whole(data, mustRead(t, r.tokens)); err != nil || outcome != "new" {
		t.Fatalf("file is %q: %v", outcome, err)
	}
}

// A writer that rewrites the token file in place again and again, as the
// dashboard's schwab-py does, while runs follow one another without a
// break: no run fails. Each rewrite truncates the file and writes it in 3
// pieces up to 30 ms apart, so that a run that catches it half-written
// finds it whole on its first read again, 100 ms later; the writer then
// rests 600 ms, longer than a run's two pauses together. The first rewrite
// is held half-written until a run has read it, so at least one run proves
// the second read; the others are left to chance.
func TestRunsWhileWriterRewritesInPlaceInALoop(t *testing.T) {
	r := newRig(t, harness.SchwabConfig{})
	rng := newRand(t)
	rewrites := scaled(t, 4, 50)
	var all testutil.SyncBuffer // every run's log, for the first hold
	writer := make(chan error, 1)
	go func() {
		for i := range rewrites {
			var hold chan struct{}
			if i == 0 {
				hold = make(chan struct{})
				go closeWhen(hold, all.String, rereadLine)
			}
			pause := time.Duration(rng.Int64N(int64(30 * time.Millisecond)))
			err := rewriteInPlace(r.tokens, r.dashboardFile(i), 3, pause, make(chan struct{}), hold)
			for try := 1; errors.Is(err, errReplaced) && try < 20; try++ {
				// A run's rename took the path from under the held
				// rewrite: hold the next one instead.
				hold = make(chan struct{})
				go closeWhen(hold, all.String, rereadLine)
				err = rewriteInPlace(r.tokens, r.dashboardFile(i), 3, pause, make(chan struct{}), hold)
			}
			if err != nil {
				writer <- fmt.Errorf("rewrite %d: %w", i, err)
				return
			}
			time.Sleep(600 * time.Millisecond)
		}
		writer <- nil
	}()
	runs, caught := 0, 0
	for done := false; !done; runs++ {
		select {
		case err := <-writer:
			if err != nil {
				t.Fatal(err)
			}
			done = true // one more run, on the writer's last file
		default:
		}
		var logs testutil.SyncBuffer
		o := r.options(io.MultiWriter(&logs, &all))
		o.Force = true // every run reads, refreshes and writes
		res, err := Run(context.Background(), o)
		if err != nil || !res.Refreshed {
			t.Fatalf("run %d: refreshed %v, exit %d (%v)\n%s", runs, res.Refreshed, exit.Code(err), err, logs.String())
		}
		if strings.Contains(logs.String(), rereadLine) {
			caught++
		}
	}
	// Whole, written by the last run, with the writer's field kept. Which
	// round it holds is not fixed: a rewrite made while a run was between
	// its read and its rename is replaced by that run's file, as it would
	// be by any writer that does not take our lock.
	f, err := ParseTokenFile(mustRead(t, r.tokens))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.top.get("dashboard_round"); !ok {
		t.Error("the writer's dashboard_round was dropped")
	}
	if !r.wasIssued(f.Token.AccessToken) {
		t.Errorf("access token %q was never issued: the last run did not write", f.Token.AccessToken)
	}
	if caught == 0 {
		t.Error("no run read the file half-written")
	}
	t.Logf("%d in-place rewrites during %d runs back to back: %d runs read the file half-written and again after the pause; %d/%d exited 0 and refreshed", rewrites, runs, caught, runs, runs)
}

// A file that stays half-written counts as malformed once the pauses are
// over: exit 65, no request, the file untouched.
func TestRunHalfWrittenForGood(t *testing.T) {
	r := newRig(t, harness.SchwabConfig{})
	data := r.dashboardFile(0)
	half := data[:len(data)/2]
	if err := os.WriteFile(r.tokens, half, 0o640); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	start := time.Now()
	_, err := Run(context.Background(), r.options(&logs))
	took := time.Since(start)
	if exit.Code(err) != exit.Data || !strings.Contains(err.Error(), "not valid JSON") {
		t.Fatalf("exit %d (%v), want 65", exit.Code(err), err)
	}
	var pauses time.Duration
	for _, p := range rereadPauses {
		pauses += p
	}
	if n := strings.Count(logs.String(), rereadLine); n != len(rereadPauses) || took < pauses {
		t.Errorf("read again %d times in %v, want %d times after %v", n, took, len(rereadPauses), pauses)
	}
	if got := mustRead(t, r.tokens); !bytes.Equal(got, half) {
		t.Errorf("file changed:\n%s", got)
	}
	if n := r.schwab.Requests(); n != 0 {
		t.Errorf("%d requests, want none", n)
	}
}

// options are the in-process equivalent of the rig's command line, logging
// at debug level to logs.
func (r *rig) options(logs io.Writer) Options {
	return Options{
		TokenFile:   r.tokens,
		AppConfig:   r.app,
		TokenURL:    r.url,
		HTTPTimeout: 10 * time.Second,
		LockTimeout: 10 * time.Second,
		Delivery:    Delivery{Sockets: []string{r.sock}, Retries: 1},
		Log:         slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}
