package deliver

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/harness"
	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/testutil"
)

// A message over the receiver's limit is refused before any connection:
// with --require-delivery it is exit 75 and names the limit; the socket is
// never dialled (a missing socket would be "not running" instead).
func TestPushRefusesOversizedMessage(t *testing.T) {
	tok := Message{AccessToken: strings.Repeat("A", 4100), RefreshToken: "RT", ExpiresAt: 1}
	var logs bytes.Buffer
	d := Delivery{Sockets: []string{filepath.Join(t.TempDir(), "none.sock")}, Retries: 1, Require: true}
	replies, err := Push(context.Background(), tok, d, slog.New(slog.NewTextHandler(&logs, nil)))
	ok := All(replies)
	if ok || exit.Code(err) != exit.TempFail || !strings.Contains(fmt.Sprint(err), "message too large") {
		t.Fatalf("ok %v, err %v (exit %d), want 75 for a message too large\n%s", ok, err, exit.Code(err), logs.String())
	}
	d.Ack = AckNone // 8191 bytes: the same token fits
	if _, err := Push(context.Background(), tok, d, slog.New(slog.NewTextHandler(&logs, nil))); strings.Contains(fmt.Sprint(err), "too large") {
		t.Fatalf("--ack=none refused a message under 8191 bytes: %v", err)
	}
}

// --retry-delay 0 means no pause between delivery attempts, not deliver's
// 5 s default; any other value is passed on as it is.
func TestPushRetryDelay(t *testing.T) {
	for _, tt := range []struct {
		delay time.Duration
		want  string
	}{
		{0, "retrying in 0s"},
		{time.Millisecond, "retrying in 1ms"},
	} {
		bot := &harness.Receiver{Path: filepath.Join(testutil.ShortTempDir(t), "bot.sock"), Ack: "ERROR"}
		if err := bot.Listen(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() { bot.Serve(ctx) })
		var logs bytes.Buffer
		replies, err := Push(context.Background(), Message{AccessToken: "AT", RefreshToken: "RT", ExpiresAt: 1},
			Delivery{Sockets: []string{bot.Path}, Retries: 2, RetryDelay: tt.delay, Timeout: 10 * time.Second},
			slog.New(slog.NewTextHandler(&logs, nil)))
		cancel()
		wg.Wait()
		ok := All(replies)
		if ok || err != nil || !strings.Contains(logs.String(), tt.want) {
			t.Errorf("--retry-delay %v: ok %v, err %v, want a WARN %q:\n%s", tt.delay, ok, err, tt.want, logs.String())
		}
	}
}

// Push's exit codes: an untrusted socket is 77 whatever Require says; a
// missing one is a WARN, or 75 with Require; an over-size message names
// the limit of the --ack in use, ok when none is set.
func TestPushOutcomes(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.sock")
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	m := Message{AccessToken: "AT", RefreshToken: "RT", ExpiresAt: 1}
	if replies, err := Push(t.Context(), m, Delivery{Sockets: []string{missing}, Retries: 1}, log); err != nil || All(replies) || len(replies) != 1 {
		t.Errorf("missing socket: %q, %v; want one failed, no error", replies, err)
	}
	if _, err := Push(t.Context(), m, Delivery{Sockets: []string{missing}, Retries: 1, Require: true}, log); exit.Code(err) != exit.TempFail {
		t.Errorf("missing socket, required: %v (exit %d), want 75", err, exit.Code(err))
	}
	big := Message{AccessToken: strings.Repeat("A", 4100), RefreshToken: "RT", ExpiresAt: 1}
	_, err := Push(t.Context(), big, Delivery{Sockets: []string{missing}, Require: true}, log)
	if !strings.Contains(exit.Hint(err), "with --ack=ok the bot reads at most 4095 bytes") {
		t.Errorf("over-size hint %q, want --ack=ok's limit", exit.Hint(err))
	}
	rejecting := serve(t, write("ERROR"))
	if _, err := Push(t.Context(), m, Delivery{Sockets: []string{rejecting.path}, Retries: 1, Require: true}, log); exit.Code(err) != exit.TempFail {
		t.Errorf("ERROR, required: %v (exit %d), want 75", err, exit.Code(err))
	}
	sq := startSquatter(t)
	if _, err := Push(t.Context(), m, Delivery{Sockets: []string{sq.path}, Retries: 1}, log); exit.Code(err) != exit.NoPerm {
		t.Errorf("untrusted socket: %v (exit %d), want 77", err, exit.Code(err))
	}
}
