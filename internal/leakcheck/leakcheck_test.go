package leakcheck

import (
	"strings"
	"testing"
	"time"
)

type fakeM struct{ run func() int }

func (m fakeM) Run() int { return m.run() }

func TestWrapFailsOnLeak(t *testing.T) {
	oldWait, oldOut := Wait, Out
	var out strings.Builder
	Wait, Out = 50*time.Millisecond, &out
	defer func() { Wait, Out = oldWait, oldOut }()
	stop := make(chan struct{})
	defer close(stop)
	code := Wrap(fakeM{func() int { go leaky(stop); return 0 }}).Run()
	if code != 1 {
		t.Errorf("exit = %d with a leaked goroutine, want 1", code)
	}
	if !strings.Contains(out.String(), "goroutines outlived the tests") || !strings.Contains(out.String(), "leakcheck.leaky") {
		t.Errorf("report = %q, want the leaked goroutine named", out.String())
	}
}

func leaky(stop chan struct{}) { <-stop }

// A goroutine that ends within Wait is no leak; one running before the
// tests is not theirs; a failed run keeps its own exit code.
func TestWrapPasses(t *testing.T) {
	stop := make(chan struct{})
	defer close(stop)
	go leaky(stop) // running before Run: not the tests'
	if code := Wrap(fakeM{func() int { return 0 }}).Run(); code != 0 {
		t.Errorf("exit = %d without a leak, want 0", code)
	}
	done := make(chan struct{})
	ending := Wrap(fakeM{func() int {
		go func() { <-done }()
		time.AfterFunc(10*time.Millisecond, func() { close(done) })
		return 0
	}})
	if code := ending.Run(); code != 0 {
		t.Errorf("exit = %d for a goroutine that ends, want 0", code)
	}
	if code := Wrap(fakeM{func() int { return 3 }}).Run(); code != 3 {
		t.Errorf("exit = %d, want the tests' 3", code)
	}
}
