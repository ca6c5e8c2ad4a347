package deliver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/refresh-token/refresh-token/internal/exit"
)

// Delivery configures the push of a token to the bot's sockets.
type Delivery struct {
	Sockets    []string
	Retries    int
	RetryDelay time.Duration
	Timeout    time.Duration
	TrustUIDs  []int
	Ack        Ack  // what the bot answers: AckOK (zero) or AckNone
	Require    bool // a failed delivery is exit 75 instead of a warning
}

// Push sends m to every socket. An untrusted socket or a path that is not
// a socket is exit 77 whatever Require says; any other failure is a WARN, or
// exit 75 with Require. ok is true when every socket got the token: it
// acknowledged it, or, with AckNone, the message was written whole.
// A message over the receiver's limit is refused before any connection.
func Push(ctx context.Context, m Message, d Delivery, log *slog.Logger) (ok bool, err error) {
	if len(d.Sockets) == 0 {
		return false, nil
	}
	msg, err := m.Encode()
	if err == nil {
		err = CheckSize(msg, d.Ack)
	}
	if err != nil {
		err = fmt.Errorf("token not sent to the bot: %w", err)
		hint := "the bot's JSON receiver (--ack=ok) reads at most 4095 bytes; check the token file for oversized tokens"
		if d.Ack == AckNone {
			hint = "the bot's TokenReceiver (--ack=none) reads at most 8191 bytes; check the token file for oversized tokens"
		}
		if d.Require {
			return false, &exit.Error{Code: exit.TempFail, Err: err, Hint: hint}
		}
		log.Error(err.Error(), "hint", hint)
		return false, nil
	}
	delay := d.RetryDelay
	if delay == 0 {
		delay = -1 // deliver reads 0 as "the default"; ours means none
	}
	opt := Options{
		Retries:    d.Retries,
		RetryDelay: delay,
		Timeout:    d.Timeout,
		TrustUIDs:  d.TrustUIDs,
		Ack:        d.Ack,
		Logger:     log,
	}
	var untrusted, failed int
	for _, path := range d.Sockets {
		err := Send(ctx, path, msg, opt)
		var ue *UntrustedError
		var ne *NotSocketError
		switch {
		case err == nil && d.Ack == AckNone:
			log.Info("Token sent to trading bot (no acknowledgement expected)", "socket", path)
			continue
		case err == nil:
			log.Info("Token successfully sent to trading bot", "socket", path)
			continue
		case errors.As(err, &ue), errors.As(err, &ne):
			log.Error(err.Error())
			untrusted++
		case errors.Is(err, ErrNotRunning):
			log.Warn("Bot socket not found - trading bot may not be running", "socket", path)
			failed++
		default:
			log.Warn(fmt.Sprintf("Token not delivered: %v", err))
			failed++
		}
	}
	n := len(d.Sockets)
	switch {
	case untrusted > 0:
		return false, exit.Fail(exit.NoPerm, "make sure the socket belongs to the bot: trust its owner with --trust-uid, or remove a squatter's socket",
			"token withheld from %d of %d bot sockets: untrusted owner or not a socket", untrusted, n)
	case failed > 0 && d.Require:
		return false, exit.Fail(exit.TempFail, "start the trading bot, or check that its socket path matches --socket",
			"token not delivered to %d of %d bot sockets (--require-delivery)", failed, n)
	}
	return failed == 0, nil
}
