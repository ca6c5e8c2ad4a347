package testutil

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// NoHang runs fn and fails the test if it has not returned within limit.
// unblock, if set, is called then, so that a regressed fn stuck in open(2)
// on a FIFO can end; without it fn is left behind, and the suite goes on.
func NoHang(t *testing.T, limit time.Duration, unblock func(), fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(limit):
		if unblock != nil {
			unblock()
			<-done
		}
		t.Fatalf("still running after %s: blocked", limit)
	}
}

// Mkfifo makes a FIFO at path and returns what unblocks an open(2) stuck
// on it, reading or writing: opening its other end.
func Mkfifo(t *testing.T, path string) func() {
	t.Helper()
	os.Remove(path)
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return func() {
		if f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NONBLOCK, 0); err == nil {
			t.Cleanup(func() { f.Close() })
		}
	}
}
