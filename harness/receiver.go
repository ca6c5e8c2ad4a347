package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultSocket is where the bot listens unless told otherwise.
const DefaultSocket = "/tmp/bigbrother_token.sock"

// DefaultReadTimeout bounds how long the receiver waits for a client's
// message (and for its reply to be written).
const DefaultReadTimeout = 10 * time.Second

// maxStream bounds a message read with [ReadStream].
const maxStream = 1 << 20

// ReadMode says how the receiver reads a message.
type ReadMode string

const (
	// ReadSingle is the C++ receiver: one recv of at most [MaxMessage]
	// bytes. A message split across writes or longer than that fails.
	ReadSingle ReadMode = "single"
	// ReadStream reads until one whole JSON value has arrived: a tolerant
	// receiver, to tell protocol bugs from sender bugs.
	ReadStream ReadMode = "stream"
)

// Receiver is a stand-in for the bot's socket receiver. Set the fields, then
// call [Receiver.Listen] (optional) and [Receiver.Serve]. The fields must not
// change once Listen has been called.
type Receiver struct {
	// Path is the socket path; empty means [DefaultSocket].
	Path string
	// Mode is given to the socket after bind; zero means 0600.
	Mode fs.FileMode
	// Read selects the read strategy; empty means [ReadSingle].
	Read ReadMode
	// ReadTimeout bounds each connection's read and reply; zero means
	// [DefaultReadTimeout], negative means none (as the C++ code).
	ReadTimeout time.Duration
	// Record, when set, names a file that gets one JSON line per message.
	Record string
	// Out gets a redacted line per connection; nil discards them.
	Out io.Writer

	// NoAck makes it the older receiver: keep the bytes, reply nothing.
	NoAck bool
	// Ack, when set, is sent instead of "OK" or "ERROR".
	Ack string
	// AckDelay is waited before the reply is sent.
	AckDelay time.Duration
	// FailFirst connections are closed without reading or replying.
	FailFirst int
	// Count, when positive, makes Serve return after that many messages.
	Count int

	mu          sync.Mutex
	ln          *net.UnixListener
	rec         *recorder
	connections int
	received    []Received
	current     Message
	hasCurrent  bool
}

func (r *Receiver) path() string {
	if r.Path == "" {
		return DefaultSocket
	}
	return r.Path
}

// Listen removes whatever is at the socket path (as the C++ code unlinks a
// stale socket), binds, listens and sets the socket's mode. Once it returns,
// clients can connect; Serve answers them.
func (r *Receiver) Listen() error {
	path := r.path()
	// unlink(2), not os.Remove, which would also remove an empty directory.
	if err := unix.Unlink(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return fmt.Errorf("listen on %s: %w", path, err)
	}
	mode := r.Mode
	if mode == 0 {
		mode = 0o600
	}
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		return fmt.Errorf("chmod socket: %w", err)
	}
	var rec *recorder
	if r.Record != "" {
		if rec, err = openRecorder(r.Record); err != nil {
			ln.Close()
			return err
		}
	}
	r.mu.Lock()
	r.ln, r.rec = ln, rec
	r.mu.Unlock()
	return nil
}

// Serve answers connections one at a time until ctx is done or Count
// messages have arrived, then removes the socket. It calls Listen first if
// that has not been done. It returns nil on a clean stop.
func (r *Receiver) Serve(ctx context.Context) error {
	r.mu.Lock()
	ln := r.ln
	r.mu.Unlock()
	if ln == nil {
		if err := r.Listen(); err != nil {
			return err
		}
		ln = r.ln
	}
	defer r.Close()
	// A past deadline wakes a blocked Accept; closing the listener here
	// would race with the deferred Close.
	stop := context.AfterFunc(ctx, func() { ln.SetDeadline(time.Now()) })
	defer stop()
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept on %s: %w", r.path(), err)
		}
		r.handle(ctx, c)
		if r.Count > 0 && len(r.Received()) >= r.Count {
			return nil
		}
	}
}

// Close stops listening and removes the socket. Serve calls it on return;
// to stop Serve, cancel its context instead.
func (r *Receiver) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	if r.ln != nil {
		// The listener unlinks the socket path as it closes.
		errs = append(errs, r.ln.Close())
		r.ln = nil
	}
	if r.rec != nil {
		errs = append(errs, r.rec.close())
		r.rec = nil
	}
	return errors.Join(errs...)
}

// Received returns the messages read so far, valid or not, oldest first.
func (r *Receiver) Received() []Received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Received(nil), r.received...)
}

// Current returns the token the bot would be using: the last valid message.
func (r *Receiver) Current() (Message, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.current, r.hasCurrent
}

// Connections returns how many connections were accepted, including those
// closed by FailFirst or without data.
func (r *Receiver) Connections() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.connections
}

func (r *Receiver) logf(format string, args ...any) {
	if r.Out != nil {
		fmt.Fprintf(r.Out, "bot-sim: "+format+"\n", args...)
	}
}
