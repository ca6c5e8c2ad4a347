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
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultSocket is where the bot listens unless told otherwise.
const DefaultSocket = "/tmp/bigbrother_token.sock"

// DefaultReadTimeout bounds how long the receiver waits for a client's
// message (and for its reply to be written).
const DefaultReadTimeout = 10 * time.Second

// NoAckReadTimeout is the receive timeout of the bot's TokenReceiver, the
// default with NoAck.
const NoAckReadTimeout = 5 * time.Second

// DefaultBacklog is the listen backlog of both of the bot's receivers.
const DefaultBacklog = 5

// ExitEarlyClose is the exit status of a bot killed by SIGPIPE (128 + 13):
// bot-sim exits with it under DieOnEarlyClose.
const ExitEarlyClose = 141

// ErrEarlyClose is returned by Serve under DieOnEarlyClose when a client
// had closed its connection before the reply was written: the bot, which
// does not ignore SIGPIPE, dies there.
var ErrEarlyClose = errors.New("the client closed the connection before the reply was written: the bot dies of SIGPIPE here")

// maxStream bounds a message read with [ReadStream].
const maxStream = 1 << 20

// ReadMode says how the receiver reads a message.
type ReadMode string

const (
	// ReadSingle is the C++ receiver: one recv of at most [MaxMessage]
	// bytes (of [NoAckRead] with NoAck). A message split across writes or
	// longer than that fails.
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
	// Mode is given to the socket after bind; zero leaves the mode bind
	// gives it, 0777 less the umask, as the bot does.
	Mode fs.FileMode
	// Backlog is listen(2)'s backlog; zero means [DefaultBacklog], as the
	// bot. Linux queues Backlog+1 connections; the next connect fails with
	// EAGAIN.
	Backlog int
	// Read selects the read strategy; empty means [ReadSingle].
	Read ReadMode
	// Parse selects the parser; empty means [ParseStrict].
	Parse ParseMode
	// ReadTimeout bounds each connection's read and reply; zero means
	// [DefaultReadTimeout], or [NoAckReadTimeout] with NoAck; negative
	// means none (as the JSON receiver).
	ReadTimeout time.Duration
	// Record, when set, names a file that gets one JSON line per message.
	Record string
	// Out gets a redacted line per connection; nil discards them.
	Out io.Writer

	// NoAck makes it the bot's TokenReceiver: one recv of up to
	// [NoAckRead] bytes, kept as they are (no NUL cut), no reply, close.
	NoAck bool
	// DieOnEarlyClose makes Serve stop with [ErrEarlyClose], leaving the
	// socket file behind, when a reply cannot be written because the client
	// has closed its end: the bot dies of SIGPIPE there.
	DieOnEarlyClose bool
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
	dead        bool // died of an early close: the socket file stays
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
// stale socket), binds, listens with the backlog and, if Mode is set, sets
// the socket's mode. Once it returns, clients can connect; Serve answers
// them.
func (r *Receiver) Listen() error {
	path := r.path()
	if err := removeStale(path); err != nil {
		return err
	}
	backlog := r.Backlog
	if backlog <= 0 {
		backlog = DefaultBacklog
	}
	ln, err := listenUnix(path, backlog)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", path, err)
	}
	if r.Mode != 0 {
		if err := os.Chmod(path, r.Mode); err != nil {
			ln.Close()
			unix.Unlink(path)
			return fmt.Errorf("chmod socket: %w", err)
		}
	}
	var rec *recorder
	if r.Record != "" {
		if rec, err = openRecorder(r.Record); err != nil {
			ln.Close()
			return err
		}
	}
	r.mu.Lock()
	r.ln, r.rec, r.dead = ln, rec, false
	r.mu.Unlock()
	return nil
}

// listenUnix is net.ListenUnix with a backlog of our choosing: Go's takes
// the system's maximum. The path is not unlinked on close; Close does it.
func listenUnix(path string, backlog int) (*net.UnixListener, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close() // FileListener works on a duplicate
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		return nil, os.NewSyscallError("bind", err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		unix.Unlink(path)
		return nil, os.NewSyscallError("listen", err)
	}
	ln, err := net.FileListener(f)
	if err != nil {
		unix.Unlink(path)
		return nil, err
	}
	return ln.(*net.UnixListener), nil
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
		if err := r.handle(ctx, c); err != nil {
			r.mu.Lock()
			r.dead = true
			r.mu.Unlock()
			return err
		}
		if r.Count > 0 && len(r.Received()) >= r.Count {
			return nil
		}
	}
}

// Close stops listening and removes the socket, as the bot does on
// shutdown; after [ErrEarlyClose] the socket file stays, as after the bot's
// death. Serve calls it on return; to stop Serve, cancel its context
// instead.
func (r *Receiver) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	if r.ln != nil {
		errs = append(errs, r.ln.Close())
		if !r.dead {
			if err := unix.Unlink(r.path()); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("remove socket: %w", err))
			}
		}
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

// ErrInUse is a socket path another process listens on: the bot, most
// likely. bot-sim leaves it alone and exits 75.
var ErrInUse = errors.New("another process is listening there")

// removeStale removes a socket left at path by a process that is gone: one
// where a connection is refused. A socket that answers belongs to a live
// process, and anything that is not a socket is not ours: both are left
// alone, with an error.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("check %s: %w", path, err)
	case fi.Mode().Type() != fs.ModeSocket:
		return fmt.Errorf("%s exists and is not a socket: remove it or choose another --socket", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("%w: another process is listening on %s; is the bot running?", ErrInUse, path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%w: %s does not refuse connections (%v); is the bot running?", ErrInUse, path, err)
	}
	// unlink(2), not os.Remove, which would also remove an empty directory.
	if err := unix.Unlink(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	return nil
}
