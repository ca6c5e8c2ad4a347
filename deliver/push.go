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
// exit 75 with Require. replies holds, for each socket in order, what the
// bot did with the token (ReplyOK, ReplyClosed, ReplyNone), or "" where it
// was not delivered. A message over the receiver's limit is refused before
// any connection.
func Push(ctx context.Context, m Message, d Delivery, log *slog.Logger) (replies []Reply, err error) {
	if len(d.Sockets) == 0 {
		return nil, nil
	}
	replies = make([]Reply, len(d.Sockets))
	msg, err := m.Encode()
	if err == nil {
		err = CheckSize(msg, d.Ack)
	}
	if err != nil {
		ack := d.Ack
		if ack == "" {
			ack = AckOK
		}
		err = fmt.Errorf("token not sent to the bot: %w", err)
		hint := fmt.Sprintf("with --ack=%s the bot reads at most %d bytes; check the token file for oversized tokens", ack, ack.Limit())
		if d.Require {
			return replies, &exit.Error{Code: exit.TempFail, Err: err, Hint: hint}
		}
		log.Warn(err.Error(), "hint", hint)
		return replies, nil
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
	var untrusted, failed, silent int
	for i, path := range d.Sockets {
		reply, err := SendReply(ctx, path, msg, opt)
		replies[i] = reply
		var ue *UntrustedError
		var ne *NotSocketError
		switch {
		case err == nil && reply == ReplyNone:
			log.Info("Token sent to trading bot (no acknowledgement expected)", "socket", path)
			continue
		case err == nil && reply == ReplyClosed:
			log.Info("Token sent to trading bot: it read the token and closed without a reply, counted as delivered (--ack=none skips the wait)", "socket", path)
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
		case errors.Is(err, ErrNoAck):
			log.Warn(fmt.Sprintf("Token not delivered: %v: the bot runs, and closes without a reply as its TokenReceiver does; use --ack=auto (the default) or --ack=none", err))
			failed++
			silent++
		default:
			log.Warn(fmt.Sprintf("Token not delivered: %v", err))
			failed++
		}
	}
	n := len(d.Sockets)
	switch {
	case untrusted > 0:
		return replies, exit.Fail(exit.NoPerm, "make sure the socket belongs to the bot: trust its owner with --trust-uid, or remove a squatter's socket",
			"token withheld from %d of %d bot sockets: untrusted owner or not a socket", untrusted, n)
	case failed > 0 && silent == failed && d.Require:
		return replies, exit.Fail(exit.TempFail, "the bot got the token but answers nothing, as its TokenReceiver does: use --ack=auto (the default) or --ack=none",
			"token not acknowledged by %d of %d bot sockets (--require-delivery)", failed, n)
	case failed > 0 && d.Require:
		return replies, exit.Fail(exit.TempFail, "start the trading bot, or check that its socket path matches --socket",
			"token not delivered to %d of %d bot sockets (--require-delivery)", failed, n)
	}
	return replies, nil
}

// All reports whether every socket got the token.
func All(replies []Reply) bool {
	for _, r := range replies {
		if r == "" {
			return false
		}
	}
	return len(replies) > 0
}
