package deliver

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// A reply that comes in pieces is read whole before it is judged: ERROR
// written as "ER" then "ROR" is a rejection, not an unexpected "ER".
func TestSendNoAckReplyInPieces(t *testing.T) {
	s := noAck(t, func(_ int, c net.Conn) {
		io.WriteString(c, "ER")
		time.Sleep(50 * time.Millisecond)
		io.WriteString(c, "ROR")
	})
	err := Send(t.Context(), s.path, testMessage(t), noAckOptions(&logRecorder{}))
	if !errors.Is(err, ErrRejected) {
		t.Fatalf("err = %v, want ErrRejected", err)
	}
}

// A bot that fills the reply buffer and keeps talking is judged on what
// fits: an unexpected reply, at once, not a read that never ends.
func TestSendNoAckLongReply(t *testing.T) {
	release := make(chan struct{})
	s := noAck(t, func(_ int, c net.Conn) {
		io.WriteString(c, strings.Repeat("x", 100))
		<-release
	})
	t.Cleanup(func() { close(release) })
	done := make(chan error, 1)
	go func() { done <- Send(t.Context(), s.path, testMessage(t), noAckOptions(&logRecorder{})) }()
	select {
	case err := <-done:
		var u *UnexpectedReplyError
		if !errors.As(err, &u) || u.Reply != strings.Repeat("x", 64) {
			t.Fatalf("err = %v, want the 64 bytes read as an unexpected reply", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Send did not return for a long reply")
	}
}

// A half-close that works logs nothing about it.
func TestSendNoAckHalfCloseQuiet(t *testing.T) {
	s := noAck(t, nil)
	log := &logRecorder{}
	if err := Send(t.Context(), s.path, testMessage(t), noAckOptions(log)); err != nil {
		t.Fatal(err)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	for _, l := range log.lines {
		if strings.Contains(l, "half-close") {
			t.Errorf("log line %q after a half-close that worked", l)
		}
	}
}
