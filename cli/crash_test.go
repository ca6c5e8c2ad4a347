package cli

import (
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/harness"
	"github.com/refresh-token/refresh-token/internal/fixture"
	"github.com/refresh-token/refresh-token/internal/testutil"
	"github.com/refresh-token/refresh-token/store"
)

// writeSteps are the moments of WriteFile that seam.WriteStep reports, in order.
var writeSteps = []string{"before-write", "after-fsync", "before-rename", "after-rename"}

// A run killed with SIGKILL at any step of the write leaves the old file or
// the new one, whole, and the next run removes its temp file. Before the
// rename the temp file already holds the whole new file, fsynced, with the
// token file's mode.
func TestCrashAtEachWriteStep(t *testing.T) {
	r := fixture.NewRig(t, harness.SchwabConfig{})
	rounds := fixture.Scaled(t, 1, 50)
	for _, step := range writeSteps {
		t.Run(step, func(t *testing.T) {
			tempLeft := step == "after-fsync" || step == "before-rename"
			want := "old"
			if step == "after-rename" {
				want = "new"
			}
			for range rounds {
				old := testutil.Read(t, r.Tokens)
				c := r.Start(t, step, "--force")
				if code := c.Wait(t); code != -1 {
					t.Fatalf("exit %d, want death by SIGKILL at %s\n%s", code, step, c.Stderr.String())
				}
				got := testutil.Read(t, r.Tokens)
				if outcome, err := r.Whole(old, got); err != nil || outcome != want {
					t.Fatalf("after SIGKILL at %s: file is %q (%v), want %s", step, outcome, err, want)
				}
				testutil.CheckMode(t, r.Tokens, 0o640)
				left := r.Leftovers(t)
				switch {
				case tempLeft && len(left) == 1 && strings.HasPrefix(left[0], "tokens.json"+store.TempMark):
					tmp := filepath.Join(r.Dir, left[0])
					if outcome, err := r.Whole(old, testutil.Read(t, tmp)); err != nil || outcome != "new" {
						t.Errorf("temp file at %s is not the whole new file: %v", step, err)
					}
					testutil.CheckMode(t, tmp, 0o640)
				case tempLeft || len(left) > 0:
					t.Fatalf("after SIGKILL at %s: files left %v, want %s", step, left, map[bool]string{true: "one temp file", false: "none"}[tempLeft])
				}
				recoverRun(t, r, got, tempLeft)
			}
			t.Logf("SIGKILL at %s: %d runs, file %s and whole after each, temp file left %d, removed by the next run",
				step, rounds, want, map[bool]int{true: rounds}[tempLeft])
		})
	}
}

// recoverRun runs refresh-token after a killed run: it must succeed, remove
// what the killed run left and write a whole new file over before.
func recoverRun(t *testing.T, r *fixture.Rig, before []byte, tempLeft bool) {
	t.Helper()
	code, stderr := r.Run(t, "--force")
	if code != 0 {
		t.Fatalf("run after the kill: exit %d\n%s", code, stderr)
	}
	if left := r.Leftovers(t); len(left) > 0 {
		t.Fatalf("run after the kill left %v", left)
	}
	if removed := strings.Contains(stderr, "Removed temp file left by an interrupted run"); removed != tempLeft {
		t.Errorf("run after the kill: removed a temp file: %v, want %v\n%s", removed, tempLeft, stderr)
	}
	if outcome, err := r.Whole(before, testutil.Read(t, r.Tokens)); err != nil || outcome != "new" {
		t.Fatalf("run after the kill: file is %q: %v", outcome, err)
	}
	testutil.CheckMode(t, r.Tokens, 0o640)
}

// crashTally counts what random kills did.
type crashTally struct {
	kills, finished, old, new, tempLeft int
}

// SIGKILL at random moments of many runs. Half the kills fall anywhere in
// a run; the other half in the moments after the endpoint answered, where
// the file is written. The slow endpoint keeps a run in flight long
// enough for the first half to land inside it.
func TestCrashAtRandomMoments(t *testing.T) {
	const delay = 20 * time.Millisecond
	r := fixture.NewRig(t, harness.SchwabConfig{Modes: []harness.Mode{harness.ModeSlow}, Delay: delay})
	rng := fixture.NewRand(t)

	// How long a whole run takes, and how long it goes on after the answer:
	// the median of a few runs, as one slow start would widen the windows
	// past the end of most runs.
	var spans, tails []time.Duration
	for range 5 {
		idle(t, r)
		c := r.Start(t, "", "--force")
		if code := c.Wait(t); code != 0 {
			t.Fatalf("calibration run: exit %d\n%s", code, c.Stderr.String())
		}
		end := time.Now()
		spans = append(spans, end.Sub(c.Start))
		tails = append(tails, end.Sub(lastAnswer(t, r)))
	}
	slices.Sort(spans)
	slices.Sort(tails)
	span, tail := spans[len(spans)/2], tails[len(tails)/2]
	t.Logf("a run takes %v, %v of it after the answer", span, tail)

	n := fixture.Scaled(t, 6, 1000)
	var anywhere, afterAnswer crashTally
	for i := range n {
		old := testutil.Read(t, r.Tokens)
		idle(t, r)
		c := r.Start(t, "", "--force")
		tally := &anywhere
		if i%2 == 0 {
			time.Sleep(time.Duration(rng.Int64N(int64(span * 6 / 5))))
		} else {
			tally = &afterAnswer
			lastAnswer(t, r)
			time.Sleep(time.Duration(rng.Int64N(int64(tail))))
		}
		c.Cmd.Process.Signal(syscall.SIGKILL)
		switch code := c.Wait(t); code {
		case -1:
			tally.kills++
		case 0:
			tally.finished++
		default:
			t.Fatalf("run %d: exit %d\n%s", i, code, c.Stderr.String())
		}
		got := testutil.Read(t, r.Tokens)
		outcome, err := r.Whole(old, got)
		if err != nil {
			t.Fatalf("run %d, killed %v after its start: %v", i, time.Since(c.Start), err)
		}
		if outcome == "old" {
			tally.old++
		} else {
			tally.new++
		}
		testutil.CheckMode(t, r.Tokens, 0o640)
		left := r.Leftovers(t)
		if len(left) > 0 {
			tally.tempLeft++
		}
		recoverRun(t, r, got, len(left) > 0)
	}
	for _, x := range []struct {
		name string
		c    crashTally
	}{{"anywhere in a run", anywhere}, {"after the answer", afterAnswer}} {
		t.Logf("SIGKILL %s: %d runs, %d killed, %d finished first; file whole %d/%d: old=%d new=%d; temp file left %d, removed by the next run",
			x.name, x.c.kills+x.c.finished, x.c.kills, x.c.finished, x.c.old+x.c.new, x.c.kills+x.c.finished, x.c.old, x.c.new, x.c.tempLeft)
	}
}

// idle waits until the endpoint has no request in flight and forgets any
// answer it sent, so that an answer to a killed run is not taken for the
// next run's.
func idle(t *testing.T, r *fixture.Rig) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		n, _ := r.InFlight()
		if n == 0 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("%d requests still in flight", n)
		}
	}
	select {
	case <-r.Answered:
	default:
	}
}

// lastAnswer waits for the endpoint's next token answer.
func lastAnswer(t *testing.T, r *fixture.Rig) time.Time {
	t.Helper()
	select {
	case at := <-r.Answered:
		return at
	case <-time.After(30 * time.Second):
		t.Fatal("the endpoint sent no token answer")
		return time.Time{}
	}
}
