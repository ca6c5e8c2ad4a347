// Package deliver pushes a token to the trading bot over its Unix socket.
package deliver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
)

// MaxMessage is the largest message the bot's JSON receiver can parse: it
// reads once into a 4096-byte buffer and NUL-terminates what it got.
const MaxMessage = 4095

// MaxMessageNoAck is the largest message sent with [AckNone]: the bot's
// TokenReceiver reads once into 8192 bytes; one byte is kept spare, as for
// the JSON receiver.
const MaxMessageNoAck = 8191

// Ack says what the bot answers once it has read the message.
type Ack string

const (
	// AckOK is the bot's JSON receiver (and the original Python sender's
	// contract): exactly "OK" once the message is applied, "ERROR" when it
	// does not parse. The zero value means AckOK.
	AckOK Ack = "ok"
	// AckNone is the bot's TokenReceiver: it reads once and closes without
	// a reply. A message written whole counts as delivered.
	AckNone Ack = "none"
	// AckAuto serves both receivers without knowing which one listens: it
	// keeps the connection open after the message and waits for the bot's
	// answer. "OK" is delivered; so is a close without a reply once the
	// whole message was read (TokenReceiver), which is never sent again;
	// "ERROR", another reply, a reset or silence until the timeout is not.
	AckAuto Ack = "auto"
)

// Reply is what a bot did with a message that counts as delivered.
type Reply string

const (
	ReplyOK     Reply = "ok"     // it answered OK
	ReplyClosed Reply = "closed" // it read the message and closed without a reply (TokenReceiver)
	ReplyNone   Reply = "none"   // AckNone: written whole, no answer waited for
)

// Limit returns the largest message the receiver of that kind can read.
func (a Ack) Limit() int {
	if a == AckNone {
		return MaxMessageNoAck
	}
	return MaxMessage
}

// CheckSize refuses a message the receiver of that kind cannot read in its
// single recv: over [MaxMessage] bytes for AckOK, over [MaxMessageNoAck]
// for AckNone. The error wraps ErrTooLarge.
func CheckSize(msg []byte, ack Ack) error {
	if limit := ack.Limit(); len(msg) > limit {
		return fmt.Errorf("%w: %d bytes, limit %d (the bot reads once into %d bytes)", ErrTooLarge, len(msg), limit, limit+1)
	}
	return nil
}

var (
	// ErrTooLarge means the encoded message exceeds what the bot reads.
	ErrTooLarge = errors.New("message too large for the bot's receiver")
	// ErrNotRunning means the socket path does not exist: the bot is not running.
	ErrNotRunning = errors.New("socket not found: the bot may not be running")
	// ErrRejected means the bot answered ERROR: it could not parse the message.
	ErrRejected = errors.New("bot rejected the message (replied ERROR)")
	// ErrNoAck means the bot closed the connection without a reply, as the
	// older receiver does; whether it applied the token is unknown.
	ErrNoAck = errors.New("connection closed without an acknowledgement")
)

// Message is what the bot's receiver parses.
type Message struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresAt    int64  `json:"expires_at"` // Unix seconds; the bot reads a time_t
}

// Encode returns m as compact JSON without a trailing newline, ready for
// Send. It refuses a message over [MaxMessageNoAck] bytes, which no receiver
// of the bot can read; Send and [CheckSize] apply the limit of each kind.
func (m Message) Encode() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Tokens are opaque; escaping <, > and & as \u003c etc. only wastes
	// bytes of the 4095 the bot can read.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("encode token message: %w", err)
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if err := CheckSize(b, AckNone); err != nil {
		return nil, fmt.Errorf("encode token message: %w", err)
	}
	return b, nil
}

// UntrustedError reports a socket served by a process whose uid is not root,
// ours or a trusted one: someone may be squatting the path. Nothing was sent.
type UntrustedError struct {
	Path string
	UID  int
}

func (e *UntrustedError) Error() string {
	return fmt.Sprintf("refusing to send token to %s: the server runs as uid %d, not root, our uid or a trusted uid (someone may be squatting the socket)", e.Path, e.UID)
}

// NotSocketError reports a path that exists but is not a socket. Nothing was sent.
type NotSocketError struct {
	Path string
	Mode fs.FileMode
}

func (e *NotSocketError) Error() string {
	return fmt.Sprintf("refusing to send token to %s: not a socket (mode %s)", e.Path, e.Mode)
}

// UnexpectedReplyError reports an acknowledgement other than OK or ERROR.
type UnexpectedReplyError struct {
	Reply string
}

func (e *UnexpectedReplyError) Error() string {
	return fmt.Sprintf("unexpected reply %q", e.Reply)
}
