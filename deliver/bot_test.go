//go:build linux

package deliver

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/harness"
	"github.com/refresh-token/refresh-token/internal/testutil"
)

// serveBot runs bot-sim's receiver r until the test ends; the returned
// channel yields what Serve returned.
func serveBot(t *testing.T, r *harness.Receiver) <-chan error {
	t.Helper()
	r.Path = filepath.Join(testutil.ShortTempDir(t), "bot.sock")
	if err := r.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done, stopped := make(chan error, 1), make(chan struct{})
	go func() {
		done <- r.Serve(ctx)
		close(stopped)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-stopped:
		case <-time.After(5 * time.Second):
			t.Error("receiver did not stop")
		}
	})
	return done
}

// The JSON receiver dies of SIGPIPE when its reply finds the client gone.
// Send waits for the reply within its timeout, so a slow bot lives on: with
// AckOK, and with AckNone while the reply comes within the one-second wait.
func TestSendNeverKillsASlowBot(t *testing.T) {
	for _, ack := range []Ack{AckOK, AckNone} {
		t.Run(string(ack), func(t *testing.T) {
			r := &harness.Receiver{DieOnEarlyClose: true, AckDelay: 300 * time.Millisecond}
			done := serveBot(t, r)
			opt := fast(&logRecorder{})
			opt.Ack, opt.Timeout = ack, 2*time.Second
			for i := range 2 {
				if err := Send(t.Context(), r.Path, testMessage(t), opt); err != nil {
					t.Fatalf("delivery %d: %v", i+1, err)
				}
			}
			select {
			case err := <-done:
				t.Fatalf("the bot stopped: %v", err)
			default:
			}
			got := r.Received()
			if len(got) != 2 || got[0].Ack != "OK" || got[1].Ack != "OK" {
				t.Errorf("bot received %+v, want two messages answered OK", got)
			}
		})
	}
}

// A timeout shorter than the bot's reply is what kills it: the counterpart
// of the test above, so that it cannot pass for a bot that never dies.
func TestSendTimeoutShorterThanReplyKillsTheBot(t *testing.T) {
	r := &harness.Receiver{DieOnEarlyClose: true, AckDelay: 300 * time.Millisecond}
	done := serveBot(t, r)
	opt := fast(&logRecorder{})
	opt.Retries, opt.Timeout = 1, 50*time.Millisecond
	if err := Send(t.Context(), r.Path, testMessage(t), opt); err == nil {
		t.Fatal("Send succeeded within 50ms against a 300ms reply")
	}
	select {
	case err := <-done:
		if !errors.Is(err, harness.ErrEarlyClose) {
			t.Fatalf("the bot stopped with %v, want ErrEarlyClose", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the bot survived a client that left before its reply")
	}
}

// Against TokenReceiver, AckNone delivers once; AckOK, as before, three
// times, each copy a message the bot applies.
func TestSendToTokenReceiver(t *testing.T) {
	for _, tt := range []struct {
		ack    Ack
		copies int
	}{{AckNone, 1}, {AckOK, 3}} {
		t.Run(string(tt.ack), func(t *testing.T) {
			r := &harness.Receiver{NoAck: true}
			serveBot(t, r)
			opt := fast(&logRecorder{})
			opt.Ack = tt.ack
			err := Send(t.Context(), r.Path, testMessage(t), opt)
			if (err == nil) != (tt.ack == AckNone) {
				t.Errorf("Send() = %v", err)
			}
			if got := r.Received(); len(got) != tt.copies || !got[0].OK {
				t.Errorf("bot received %d messages (first valid: %v), want %d", len(got), len(got) > 0 && got[0].OK, tt.copies)
			}
		})
	}
}
