package harness

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"
)

// handle answers one connection: one message, one reply, close. It returns
// ErrEarlyClose when the reply met a closed client under DieOnEarlyClose.
func (r *Receiver) handle(ctx context.Context, c *net.UnixConn) error {
	defer c.Close()
	// Shutdown must not wait for a slow client: a past deadline fails any
	// pending read or write.
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()

	r.mu.Lock()
	r.connections++
	n := r.connections
	r.mu.Unlock()

	uid, err := peerUID(c)
	if err != nil {
		r.logf("connection %d: %v", n, err)
	}
	if n <= r.FailFirst {
		r.logf("connection %d from uid %d: closed without reading (fail-first)", n, uid)
		return nil
	}

	timeout := r.readTimeout()
	if timeout > 0 {
		c.SetDeadline(time.Now().Add(timeout))
	}
	raw, err := r.read(c)
	if len(raw) == 0 {
		// recv returned 0 or failed: the C++ code closes without a reply.
		r.logf("connection %d from uid %d: no data (%v): closed without reply", n, uid, err)
		return nil
	}

	rec := Received{ReceivedAt: time.Now().UnixNano(), PeerUID: uid, Raw: string(raw), RawBase64: base64.StdEncoding.EncodeToString(raw)}
	msg := raw
	if r.Read != ReadStream && !r.NoAck {
		// The JSON receiver NUL-terminates the buffer and parses it as a C
		// string; TokenReceiver hands on the bytes and their count.
		if i := bytes.IndexByte(msg, 0); i >= 0 {
			msg = msg[:i]
		}
	}
	var err2 error
	took := applied{true, true, true}
	if r.Parse == ParseLenient {
		rec.Message, took, err2 = parseLenient(bytes.TrimPrefix(msg, utf8BOM))
	} else {
		rec.Message, err2 = ParseMessage(msg)
	}
	if err2 != nil {
		rec.Message, rec.Error = Message{}, err2.Error()
	} else {
		rec.OK = true
	}
	switch {
	case r.NoAck:
	case r.Ack != "":
		rec.Ack = r.Ack
	case rec.OK:
		rec.Ack = "OK"
	default:
		rec.Ack = "ERROR"
	}
	// Keep the message before replying, so a client that saw the reply
	// can rely on the record.
	count := r.keep(rec, took)
	r.logf("%s", rec.summary(count))
	if rec.Ack == "" {
		return nil
	}
	if r.AckDelay > 0 {
		if timeout > 0 {
			c.SetDeadline(time.Now().Add(r.AckDelay + timeout))
		}
		select {
		case <-time.After(r.AckDelay):
		case <-ctx.Done():
			return nil
		}
	}
	if _, err := c.Write([]byte(rec.Ack)); err != nil {
		r.logf("message %d: reply: %v", count, err)
		if r.DieOnEarlyClose && (errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)) {
			return fmt.Errorf("message %d: %w", count, ErrEarlyClose)
		}
	}
	return nil
}

// readTimeout is ReadTimeout with its default: the JSON receiver's or
// TokenReceiver's.
func (r *Receiver) readTimeout() time.Duration {
	switch {
	case r.ReadTimeout != 0:
		return r.ReadTimeout
	case r.NoAck:
		return NoAckReadTimeout
	}
	return DefaultReadTimeout
}

// read reads one message as configured.
func (r *Receiver) read(c net.Conn) ([]byte, error) {
	if r.Read == ReadStream {
		var seen bytes.Buffer
		dec := json.NewDecoder(io.TeeReader(io.LimitReader(c, maxStream), &seen))
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			// Whatever arrived is answered as the C++ code would: ERROR.
			return seen.Bytes(), err
		}
		return value, nil
	}
	size := MaxMessage
	if r.NoAck {
		size = NoAckRead
	}
	buf := make([]byte, size)
	n, err := c.Read(buf)
	if n == 0 && err == nil {
		err = errors.New("empty read")
	}
	return buf[:n], err
}

// keep stores a message, applies it when it is valid and returns its number.
func (r *Receiver) keep(rec Received, a applied) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.received = append(r.received, rec)
	if rec.OK {
		// The bot applies the fields it got and keeps the others.
		if a.AccessToken {
			r.current.AccessToken = rec.AccessToken
		}
		if a.RefreshToken {
			r.current.RefreshToken = rec.RefreshToken
		}
		if a.ExpiresAt {
			r.current.ExpiresAt = rec.ExpiresAt
		}
		r.hasCurrent = true
	}
	if r.rec != nil {
		if err := r.rec.write(rec); err != nil {
			r.logf("%v", err)
		}
	}
	return len(r.received)
}
