package deliver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

// Options tune Send. Zero fields take the defaults, which match the bot's
// original Python sender.
type Options struct {
	Retries    int           // attempts per socket; default 3
	RetryDelay time.Duration // between attempts; default 5s, negative for none
	Timeout    time.Duration // per attempt, covering connect, send and ack; default 5s
	TrustUIDs  []int         // server uids trusted besides root and os.Geteuid()
	Ack        Ack           // what the bot answers; zero means AckOK (the library's default; the command line's is AckAuto)
	Logger     *slog.Logger  // WARN per failed attempt, DEBUG details; nil discards
}

// noAckWait bounds the wait, with AckNone, for the bot to close its end
// after the message: the bot's TokenReceiver closes as soon as its single
// recv returns.
const noAckWait = time.Second

func (o Options) withDefaults() Options {
	if o.Retries <= 0 {
		o.Retries = 3
	}
	switch {
	case o.RetryDelay == 0:
		o.RetryDelay = 5 * time.Second
	case o.RetryDelay < 0:
		o.RetryDelay = 0
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Ack == "" {
		o.Ack = AckOK
	}
	return o
}

// Send delivers msg, as returned by Message.Encode, to the bot listening on
// the Unix socket at path: one connection per attempt, the whole message in
// one write, then a wait for the bot's "OK". With opt.Ack set to AckNone it
// half-closes instead and waits at most a second for the bot to close: a
// message written whole is delivered, and is never sent again, since a
// second copy would be applied twice. Only "ERROR" or a reset (the bot did
// not read it all) then makes it fail, without a retry. A message over
// opt.Ack's limit (see CheckSize) is refused before connecting.
//
// Before a byte is written, Send reads the server's SO_PEERCRED: a server
// whose uid is not root, os.Geteuid() or one of opt.TrustUIDs gets nothing
// and Send returns an *UntrustedError. A path that is not a socket yields a
// *NotSocketError the same way. Symlinks are followed, as connect(2) follows
// them; the peer's uid, not the path, is what decides trust.
//
// A path missing on the first attempt returns ErrNotRunning at once. Any
// other failure (refused, timeout, ErrRejected, ErrNoAck,
// *UnexpectedReplyError, or a socket that vanished while the bot restarts)
// that happens before the message was written whole is retried up to
// opt.Retries attempts, opt.RetryDelay apart; the error then wraps the last
// cause. Send never logs the message.
func Send(ctx context.Context, path string, msg []byte, opt Options) error {
	_, err := SendReply(ctx, path, msg, opt)
	return err
}

// SendReply is Send that also says what the bot did with a delivered
// message: answered OK, closed without a reply (AckAuto), or nothing
// waited for (AckNone).
func SendReply(ctx context.Context, path string, msg []byte, opt Options) (Reply, error) {
	if len(msg) == 0 {
		// The bot's recv would wait for data, with no timeout of its own.
		return "", fmt.Errorf("send token to %s: empty message", path)
	}
	opt = opt.withDefaults()
	if err := CheckSize(msg, opt.Ack); err != nil {
		return "", fmt.Errorf("send token to %s: %w", path, err)
	}
	for i := 1; ; i++ {
		reply, retry, err := attempt(ctx, path, msg, opt)
		switch {
		case err == nil && reply == ReplyNone:
			opt.Logger.Debug(fmt.Sprintf("token sent to %s on attempt %d/%d (no acknowledgement expected)", path, i, opt.Retries))
			return reply, nil
		case err == nil && reply == ReplyClosed:
			opt.Logger.Debug(fmt.Sprintf("%s read the token and closed without a reply on attempt %d/%d", path, i, opt.Retries))
			return reply, nil
		case err == nil:
			opt.Logger.Debug(fmt.Sprintf("%s acknowledged the token on attempt %d/%d", path, i, opt.Retries))
			return reply, nil
		case ctx.Err() != nil:
			return "", fmt.Errorf("send token to %s: %w during attempt %d/%d (%v)", path, ctx.Err(), i, opt.Retries, err)
		case !retry && errors.As(err, new(*sentError)):
			return "", fmt.Errorf("send token to %s: %w", path, err)
		case !retry:
			return "", err
		case i == 1 && errors.Is(err, ErrNotRunning):
			// Only a socket that existed a moment ago is worth waiting for.
			return "", fmt.Errorf("send token to %s: %w", path, err)
		case i >= opt.Retries:
			return "", fmt.Errorf("send token to %s failed after %d attempt%s: %w", path, i, plural(i), err)
		}
		opt.Logger.Warn(fmt.Sprintf("attempt %d/%d to %s failed: %v; retrying in %s", i, opt.Retries, path, err, opt.RetryDelay))
		if err := sleep(ctx, opt.RetryDelay); err != nil {
			return "", fmt.Errorf("send token to %s: %w after attempt %d/%d", path, err, i, opt.Retries)
		}
	}
}

// attempt makes one delivery attempt and says whether a failure is worth
// retrying. Refusals on trust are not: another try would meet the same server.
func attempt(ctx context.Context, path string, msg []byte, opt Options) (reply Reply, retry bool, err error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", true, ErrNotRunning
	}
	if err != nil {
		return "", true, bare(err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return "", false, &NotSocketError{Path: path, Mode: fi.Mode()}
	}

	// One deadline covers connect, write and the acknowledgement.
	deadline := time.Now().Add(opt.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	dialer := net.Dialer{Deadline: deadline}
	c, err := dialer.DialContext(ctx, "unix", path)
	if errors.Is(err, syscall.ENOENT) {
		return "", true, ErrNotRunning // removed since the Stat
	}
	if err != nil {
		return "", true, bare(err)
	}
	conn := c.(*net.UnixConn)
	defer conn.Close()
	if err := conn.SetDeadline(deadline); err != nil {
		return "", true, bare(err)
	}
	// Cancelling ctx interrupts a pending write or read at once.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	uid, err := peerUID(conn)
	if err != nil {
		// If we cannot tell who listens, we do not hand over the token.
		return "", false, fmt.Errorf("refusing to send token to %s: read the server's uid: %w", path, err)
	}
	if !trusted(uid, opt.TrustUIDs) {
		return "", false, &UntrustedError{Path: path, UID: uid}
	}
	opt.Logger.Debug(fmt.Sprintf("connected to %s (server uid %d), sending %d bytes", path, uid, len(msg)))

	// The bot reads with a single recv: the message must go out in one write.
	// With AckOK no half-close follows: neither that recv nor a receiver that
	// reads up to a whole JSON value waits for EOF, and the Python sender
	// never sent one.
	if _, err := conn.Write(msg); err != nil {
		return "", true, fmt.Errorf("write: %w", bare(err))
	}
	switch opt.Ack {
	case AckNone:
		// Written whole: from here on, nothing is retried.
		if err := awaitClose(conn, deadline, opt.Logger); errors.Is(err, errNotRead) {
			return "", true, err // never read: not delivered, safe to send again
		} else if err != nil {
			return "", false, &sentError{err}
		}
		return ReplyNone, false, nil
	case AckAuto:
		// The connection stays open until the bot answers or closes: a
		// late OK still finds it, and the JSON receiver, which ignores no
		// SIGPIPE, never writes to a closed socket because of us.
		err := readAck(conn)
		if errors.Is(err, ErrNoAck) {
			return ReplyClosed, false, nil // it read the whole message: never sent again
		}
		if err != nil {
			return "", true, err
		}
		return ReplyOK, false, nil
	}
	if err := readAck(conn); err != nil {
		return "", true, err
	}
	return ReplyOK, false, nil
}

// errNotRead is a message that no one read: the bot never accepted the
// connection (or never read from it). It was not delivered.
var errNotRead = errors.New("the bot did not read the message (it never accepted the connection?)")

// sentError is a failure after the message was written whole with AckNone:
// the bot may have applied it, so it is not sent again.
type sentError struct{ err error }

func (e *sentError) Error() string {
	return fmt.Sprintf("%v (the message was written whole: not sent again)", e.err)
}
func (e *sentError) Unwrap() error { return e.err }

// awaitClose half-closes conn and waits, at most noAckWait, for the bot to
// close its end. A bot that stays silent counts as having the message; one
// that answers ERROR rejected it; a reset means it closed without reading
// the whole message.
func awaitClose(conn *net.UnixConn, deadline time.Time, log *slog.Logger) error {
	if err := conn.CloseWrite(); err != nil {
		log.Debug(fmt.Sprintf("half-close: %v", bare(err)))
	}
	start := time.Now()
	if wait := start.Add(noAckWait); wait.Before(deadline) {
		conn.SetReadDeadline(wait)
	}
	var buf [64]byte
	n := 0
	for {
		k, err := conn.Read(buf[n:])
		n += k
		if err == nil && n < len(buf) {
			continue
		}
		got := string(buf[:n])
		switch {
		case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
			return fmt.Errorf("the bot closed the connection without reading the whole message: %w", bare(err))
		case got == "ERROR":
			return ErrRejected
		case got != "" && got != "OK":
			return &UnexpectedReplyError{Reply: got}
		case errors.Is(err, io.EOF):
			log.Debug(fmt.Sprintf("the bot closed the connection %s after the message", time.Since(start).Round(time.Millisecond)))
		default:
			if n, uerr := unread(conn); uerr == nil && n > 0 {
				return fmt.Errorf("%w: %d bytes still unread after %s", errNotRead, n, time.Since(start).Round(time.Millisecond))
			}
			log.Debug(fmt.Sprintf("the bot kept the connection open for %s after reading the message (%v); counted as sent", time.Since(start).Round(time.Millisecond), bare(err)))
		}
		return nil
	}
}

// readAck reads the bot's reply. It returns as soon as the bytes read so far
// decide the outcome, without waiting for the bot to close.
func readAck(conn net.Conn) error {
	var buf [64]byte
	n := 0
	for {
		k, err := conn.Read(buf[n:])
		n += k
		switch got := string(buf[:n]); {
		case got == "OK":
			return nil
		case got == "ERROR":
			return ErrRejected
		case !strings.HasPrefix("OK", got) && !strings.HasPrefix("ERROR", got):
			return &UnexpectedReplyError{Reply: got}
		case errors.Is(err, io.EOF) && n == 0:
			return ErrNoAck
		case errors.Is(err, io.EOF):
			return &UnexpectedReplyError{Reply: got}
		case err != nil && n == 0:
			return fmt.Errorf("read acknowledgement: %w", bare(err))
		case err != nil:
			return fmt.Errorf("read acknowledgement after %q: %w", got, bare(err))
		}
	}
}

// bare strips the operation and path that net and os errors repeat, so a
// log line names the socket once: "connect: connection refused".
func bare(err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		return op.Err
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &os.SyscallError{Syscall: pe.Op, Err: pe.Err}
	}
	return err
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
