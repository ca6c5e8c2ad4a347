package leakcheck

import (
	"strings"
	"testing"
	"time"
)

func TestLeaked(t *testing.T) {
	before := Snapshot()
	stop := make(chan struct{})
	go func() { <-stop }()
	leaked := Leaked(before, 50*time.Millisecond)
	if len(leaked) != 1 || !strings.Contains(leaked[0], "leakcheck.TestLeaked") {
		t.Fatalf("leaked = %q, want the one goroutine started here", leaked)
	}
	close(stop)
	if leaked := Leaked(before, time.Second); len(leaked) != 0 {
		t.Errorf("after it ended: %q", leaked)
	}
}

type fakeM struct{ run func() int }

func (m fakeM) Run() int { return m.run() }

func TestWrapFailsOnLeak(t *testing.T) {
	oldWait, oldOut := Wait, Out
	var out strings.Builder
	Wait, Out = 50*time.Millisecond, &out
	defer func() { Wait, Out = oldWait, oldOut }()
	stop := make(chan struct{})
	defer close(stop)
	code := Wrap(fakeM{func() int { go func() { <-stop }(); return 0 }}).Run()
	if code != 1 {
		t.Errorf("exit = %d with a leaked goroutine, want 1", code)
	}
	if !strings.Contains(out.String(), "1 goroutine(s) outlived the tests") {
		t.Errorf("report = %q", out.String())
	}
	if code := Wrap(fakeM{func() int { return 0 }}).Run(); code != 0 {
		t.Errorf("exit = %d without a leak, want 0", code)
	}
}
