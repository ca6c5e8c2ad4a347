package harness

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
	"unicode/utf8"
)

// Received is one message as the receiver saw it. It is also the shape of a
// line in the record file.
type Received struct {
	// Message holds the parsed fields; it is zero when OK is false.
	Message
	// ReceivedAt is when the message was read, in Unix nanoseconds.
	ReceivedAt int64 `json:"received_unix_nano"`
	// PeerUID is the client's uid from SO_PEERCRED, -1 when unknown.
	PeerUID int `json:"peer_uid"`
	// OK reports whether the message was valid, whatever the reply was.
	OK bool `json:"ok"`
	// Error says why the message was invalid.
	Error string `json:"error,omitempty"`
	// Ack is the reply sent: "OK", "ERROR", the override text, or "" for none.
	Ack string `json:"ack"`
	// Raw is the bytes read, as the older receiver stored them. In the
	// record file raw is JSON text, where invalid UTF-8 becomes U+FFFD;
	// raw_base64 holds the bytes exactly.
	Raw       string `json:"raw"`
	RawBase64 string `json:"raw_base64"`
}

// recorder appends one JSON line per message to a file that only its owner
// may read: the lines carry live tokens.
type recorder struct {
	f *os.File
}

func openRecorder(path string) (*recorder, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open record file: %w", err)
	}
	return &recorder{f: f}, nil
}

func (r *recorder) write(rec Received) error {
	line, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("record message: %w", err)
	}
	// One write per line, so a reader never sees half a line.
	if _, err := r.f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("record message: %w", err)
	}
	return nil
}

func (r *recorder) close() error { return r.f.Close() }

// summary is the redacted line printed for a message.
func (rec Received) summary(n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "message %d from uid %d: ", n, rec.PeerUID)
	if rec.OK {
		fmt.Fprintf(&b, "access_token=%s refresh_token=%s expires_at=%d (%s)",
			Redact(rec.AccessToken), Redact(rec.RefreshToken), rec.ExpiresAt,
			time.Unix(rec.ExpiresAt, 0).UTC().Format(time.RFC3339))
	} else {
		fmt.Fprintf(&b, "invalid (%d bytes): %s", len(rec.Raw), rec.Error)
	}
	if rec.Ack == "" {
		b.WriteString(" -> no reply")
	} else {
		fmt.Fprintf(&b, " -> %q", rec.Ack)
	}
	return b.String()
}

// Redact shows at most the first 4 characters of a token, and never more
// than half of it, so log lines can tell tokens apart without leaking them.
func Redact(token string) string {
	if token == "" {
		return `""`
	}
	n := min(4, utf8.RuneCountInString(token)/2)
	i := 0
	for range n {
		_, size := utf8.DecodeRuneInString(token[i:])
		i += size
	}
	return token[:i] + "…"
}
