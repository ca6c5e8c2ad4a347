package refresh

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/deliver"
	"github.com/refresh-token/refresh-token/harness"
	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/fixture"
	"github.com/refresh-token/refresh-token/internal/seam"
	"github.com/refresh-token/refresh-token/internal/testutil"
	"github.com/refresh-token/refresh-token/store"
)

// A writer that rewrites the token file in place while a run reads it (as
// schwab-py does): the run reads the half-written file again after a pause
// instead of failing, refreshes, and leaves a whole file that keeps what
// the writer wrote. The writer finishes within the pauses (100 ms, then
// 400 ms) in every round; rounds 0 and 1 hold the file half-written until
// the run has read it, so that they prove the second read every time.
func TestRunWhileFileIsRewrittenInPlace(t *testing.T) {
	r := fixture.NewRig(t, harness.SchwabConfig{})
	rng := fixture.NewRand(t)
	rounds := fixture.Scaled(t, 3, 200)
	caught := 0
	for round := range rounds {
		data := fixture.DashboardFile(round)
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
		go func() { done <- testutil.RewriteInPlace(r.Tokens, data, pieces, pause, started, hold) }()
		<-started
		if hold != nil {
			go testutil.CloseWhen(hold, logs.String, fixture.RereadLine)
		}
		res, err := Run(context.Background(), options(r, &logs))
		if werr := <-done; werr != nil {
			t.Fatal(werr)
		}
		if err != nil || !res.Refreshed {
			t.Fatalf("round %d (%d pieces, %v apart): refreshed %v, %v\n%s", round, pieces, pause, res.Refreshed, err, logs.String())
		}
		if outcome, err := r.Whole(data, testutil.Read(t, r.Tokens)); err != nil || outcome != "new" {
			t.Fatalf("round %d: file is %q: %v", round, outcome, err)
		}
		n := strings.Count(logs.String(), fixture.RereadLine)
		if n > 0 {
			caught++
		}
		if round == 0 && n < 1 || round == 1 && n != 2 {
			t.Errorf("round %d: read the file again %d times, want %s\n%s", round, n, []string{"at least once", "twice"}[round], logs.String())
		}
	}
	t.Logf("rewritten in place during %d runs: %d read it half-written and again later; %d/%d refreshed to a whole file", rounds, caught, rounds, rounds)
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
	r := fixture.NewRig(t, harness.SchwabConfig{})
	rng := fixture.NewRand(t)
	rewrites := fixture.Scaled(t, 4, 50)
	var all testutil.SyncBuffer // every run's log, for the first hold
	// The first rewrite is made while no run is between its read and its
	// rename: the writer hands its started channel to the run loop, which
	// takes it only between two runs and resumes once the file holds the
	// first piece alone, so the next run reads it half-written whatever the
	// scheduler does. Later rewrites race the runs freely.
	quiet := make(chan chan struct{})
	writer := make(chan error, 1)
	go func() {
		for i := range rewrites {
			started := make(chan struct{})
			var hold chan struct{}
			if i == 0 {
				hold = make(chan struct{})
				go testutil.CloseWhen(hold, all.String, fixture.RereadLine)
				quiet <- started // unbuffered: the run loop is idle now
			}
			pause := time.Duration(rng.Int64N(int64(30 * time.Millisecond)))
			if err := testutil.RewriteInPlace(r.Tokens, fixture.DashboardFile(i), 3, pause, started, hold); err != nil {
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
		case started := <-quiet:
			<-started
		default:
		}
		var logs testutil.SyncBuffer
		o := options(r, io.MultiWriter(&logs, &all))
		o.Force = true // every run reads, refreshes and writes
		res, err := Run(context.Background(), o)
		if err != nil || !res.Refreshed {
			t.Fatalf("run %d: refreshed %v, exit %d (%v)\n%s", runs, res.Refreshed, exit.Code(err), err, logs.String())
		}
		if strings.Contains(logs.String(), fixture.RereadLine) {
			caught++
		}
	}
	// Whole, written by the last run, with the writer's field kept. Which
	// round it holds is not fixed: a rewrite made while a run was between
	// its read and its rename is replaced by that run's file, as it would
	// be by any writer that does not take our lock.
	data := testutil.Read(t, r.Tokens)
	f, err := store.ParseTokenFile(data)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(`"dashboard_round": `)) {
		t.Error("the writer's dashboard_round was dropped")
	}
	if !r.WasIssued(f.Token.AccessToken) {
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
	r := fixture.NewRig(t, harness.SchwabConfig{})
	data := fixture.DashboardFile(0)
	half := data[:len(data)/2]
	if err := os.WriteFile(r.Tokens, half, 0o640); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	start := time.Now()
	_, err := Run(context.Background(), options(r, &logs))
	took := time.Since(start)
	if exit.Code(err) != exit.Data || !strings.Contains(err.Error(), "not valid JSON") {
		t.Fatalf("exit %d (%v), want 65", exit.Code(err), err)
	}
	var pauses time.Duration
	for _, p := range seam.Reread {
		pauses += p
	}
	if n := strings.Count(logs.String(), fixture.RereadLine); n != len(seam.Reread) || took < pauses {
		t.Errorf("read again %d times in %v, want %d times after %v", n, took, len(seam.Reread), pauses)
	}
	if got := testutil.Read(t, r.Tokens); !bytes.Equal(got, half) {
		t.Errorf("file changed:\n%s", got)
	}
	if n := r.Schwab.Requests(); n != 0 {
		t.Errorf("%d requests, want none", n)
	}
}

// options are the in-process equivalent of the rig's command line, logging
// at debug level to logs.
func options(r *fixture.Rig, logs io.Writer) Options {
	return Options{
		TokenFile:   r.Tokens,
		AppConfig:   r.App,
		TokenURL:    r.URL,
		HTTPTimeout: 10 * time.Second,
		LockTimeout: 10 * time.Second,
		Delivery:    deliver.Delivery{Sockets: []string{r.Sock}, Retries: 1},
		Log:         slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}
