package refresh

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/harness"
)

// writeSteps are the moments of WriteFile that writeStep reports, in order.
var writeSteps = []string{"before-write", "after-fsync", "before-rename", "after-rename"}

// A run killed with SIGKILL at any step of the write leaves the old file or
// the new one, whole, and the next run removes its temp file. Before the
// rename the temp file already holds the whole new file, fsynced, with the
// token file's mode.
func TestCrashAtEachWriteStep(t *testing.T) {
	r := newRig(t, harness.SchwabConfig{})
	rounds := scaled(t, 1, 50)
	for _, step := range writeSteps {
		t.Run(step, func(t *testing.T) {
			tempLeft := step == "after-fsync" || step == "before-rename"
			want := "old"
			if step == "after-rename" {
				want = "new"
			}
			for range rounds {
				old := mustRead(t, r.tokens)
				c := r.start(t, step, "--force")
				if code := c.wait(t); code != -1 {
					t.Fatalf("exit %d, want death by SIGKILL at %s\n%s", code, step, c.stderr.String())
				}
				got := mustRead(t, r.tokens)
				if outcome, err := r.whole(old, got); err != nil || outcome != want {
					t.Fatalf("after SIGKILL at %s: file is %q (%v), want %s", step, outcome, err, want)
				}
				checkMode(t, r.tokens, 0o640)
				left := r.leftovers(t)
				switch {
				case tempLeft && len(left) == 1 && strings.HasPrefix(left[0], "tokens.json"+tempMark):
					tmp := filepath.Join(r.dir, left[0])
					if outcome, err := r.whole(old, mustRead(t, tmp)); err != nil || outcome != "new" {
						t.Errorf("temp file at %s is not the whole new file: %v", step, err)
					}
					checkMode(t, tmp, 0o640)
				case tempLeft || len(left) > 0:
					t.Fatalf("after SIGKILL at %s: files left %v, want %s", step, left, map[bool]string{true: "one temp file", false: "none"}[tempLeft])
				}
				r.recover(t, got, tempLeft)
			}
			t.Logf("SIGKILL at %s: %d runs, file %s and whole after each, temp file left %d, removed by the next run",
				step, rounds, want, map[bool]int{true: rounds}[tempLeft])
		})
	}
}

// recover runs refresh-token after a killed run: it must succeed, remove
// what the killed run left and write a whole new file over before.
func (r *rig) recover(t *testing.T, before []byte, tempLeft bool) {
	t.Helper()
	code, stderr := r.run(t, "--force")
	if code != 0 {
		t.Fatalf("run after the kill: exit %d\n%s", code, stderr)
	}
	if left := r.leftovers(t); len(left) > 0 {
		t.Fatalf("run after the kill left %v", left)
	}
	if removed := strings.Contains(stderr, "Removed temp file left by an interrupted run"); removed != tempLeft {
		t.Errorf("run after the kill: removed a temp file: %v, want %v\n%s", removed, tempLeft, stderr)
	}
	if outcome, err := r.whole(before, mustRead(t, r.tokens)); err != nil || outcome != "new" {
		t.Fatalf("run after the kill: file is %q: %v", outcome, err)
	}
	checkMode(t, r.tokens, 0o640)
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
	r := newRig(t, harness.SchwabConfig{Modes: []harness.Mode{harness.ModeSlow}, Delay: delay})
	rng := newRand(t)

	// How long a whole run takes, and how long it goes on after the answer:
	// the median of a few runs, as one slow start would widen the windows
	// past the end of most runs.
	var spans, tails []time.Duration
	for range 5 {
		r.idle(t)
		c := r.start(t, "", "--force")
		if code := c.wait(t); code != 0 {
			t.Fatalf("calibration run: exit %d\n%s", code, c.stderr.String())
		}
		end := time.Now()
		spans = append(spans, end.Sub(c.start))
		tails = append(tails, end.Sub(r.lastAnswer(t)))
	}
	slices.Sort(spans)
	slices.Sort(tails)
	span, tail := spans[len(spans)/2], tails[len(tails)/2]
	t.Logf("a run takes %v, %v of it after the answer", span, tail)

	n := scaled(t, 6, 1000)
	var anywhere, afterAnswer crashTally
	for i := range n {
		old := mustRead(t, r.tokens)
		r.idle(t)
		c := r.start(t, "", "--force")
		tally := &anywhere
		if i%2 == 0 {
			time.Sleep(time.Duration(rng.Int64N(int64(span * 6 / 5))))
		} else {
			tally = &afterAnswer
			r.lastAnswer(t)
			time.Sleep(time.Duration(rng.Int64N(int64(tail))))
		}
		c.cmd.Process.Signal(syscall.SIGKILL)
		switch code := c.wait(t); code {
		case -1:
			tally.kills++
		case 0:
			tally.finished++
		default:
			t.Fatalf("run %d: exit %d\n%s", i, code, c.stderr.String())
		}
		got := mustRead(t, r.tokens)
		outcome, err := r.whole(old, got)
		if err != nil {
			t.Fatalf("run %d, killed %v after its start: %v", i, time.Since(c.start), err)
		}
		if outcome == "old" {
			tally.old++
		} else {
			tally.new++
		}
		checkMode(t, r.tokens, 0o640)
		left := r.leftovers(t)
		if len(left) > 0 {
			tally.tempLeft++
		}
		r.recover(t, got, len(left) > 0)
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
func (r *rig) idle(t *testing.T) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		r.mu.Lock()
		n := r.inFlight
		r.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("%d requests still in flight", n)
		}
	}
	select {
	case <-r.answered:
	default:
	}
}

// lastAnswer waits for the endpoint's next token answer.
func (r *rig) lastAnswer(t *testing.T) time.Time {
	t.Helper()
	select {
	case at := <-r.answered:
		return at
	case <-time.After(30 * time.Second):
		t.Fatal("the endpoint sent no token answer")
		return time.Time{}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != want {
		t.Errorf("%s: mode %v, want %v", filepath.Base(path), st.Mode().Perm(), want)
	}
}
