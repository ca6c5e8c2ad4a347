package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/refresh-token/refresh-token/internal/human"
	"github.com/refresh-token/refresh-token/store"
)

// LogOptions says where and how to log.
type LogOptions struct {
	Level  slog.Level
	JSON   bool
	File   string    // appended to, created 0600 with its directory; "" disables
	Stderr io.Writer // usually os.Stderr
}

// NewLogger builds the run's logger: stderr plus the log file. The text
// format is the seed's "[YYYY-MM-DD HH:MM:SS] LEVEL: message"; when stderr
// is the journal, lines carry an sd-daemon(3) "<N>" priority instead of the
// timestamp, which the journal adds itself. The returned func closes the
// file. A log file that cannot be opened is reported on stderr and skipped:
// the token matters more than the log.
func NewLogger(o LogOptions) (*slog.Logger, func() error) {
	log, closeFile, start := newLogger(o)
	start()
	return log, closeFile
}

// newLogger is NewLogger with the log file held back until start is
// called: records logged before are kept and written when the file opens.
// When start is never called (the command failed before it had its
// inputs), they are written at close only if the log's directory already
// exists: a first try in a fresh directory leaves no logs/ behind, while a
// deployed service logs every failure where its operator looks.
func newLogger(o LogOptions) (log *slog.Logger, closeFile func() error, start func()) {
	var handlers []slog.Handler
	add := func(w io.Writer, journal bool) {
		if o.JSON {
			handlers = append(handlers, slog.NewJSONHandler(w, &slog.HandlerOptions{Level: o.Level}))
			return
		}
		handlers = append(handlers, &textHandler{out: &lockedWriter{w: w}, level: o.Level, journal: journal})
	}
	add(o.Stderr, isJournal(o.Stderr))
	closeFile = func() error { return nil }
	start = func() {}
	if o.File != "" {
		hf := &heldFile{path: o.File}
		add(hf, false)
		closeFile = hf.Close
		start = func() {
			if err := hf.open(); err != nil {
				log.Warn(fmt.Sprintf("Cannot open log file, logging to stderr only: %v", err))
			}
		}
	}
	log = slog.New(slog.NewMultiHandler(handlers...))
	return log, closeFile, start
}

// maxHeld bounds what a heldFile keeps before its file opens.
const maxHeld = 64 << 10

// heldFile is a log file opened on request; what is written before is held
// in memory. Once opening failed, writes are dropped.
type heldFile struct {
	mu     sync.Mutex
	path   string
	held   []byte
	f      *os.File
	failed bool
}

func (h *heldFile) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.f != nil:
		return h.f.Write(p)
	case !h.failed && len(h.held)+len(p) <= maxHeld:
		h.held = append(h.held, p...)
	}
	return len(p), nil
}

// open opens the file, once, and writes what was held.
func (h *heldFile) open() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.f != nil || h.failed {
		return nil
	}
	f, err := openLog(h.path)
	if err != nil {
		h.failed, h.held = true, nil
		return err
	}
	h.f = f
	_, err = f.Write(h.held)
	h.held = nil
	return err
}

// Close closes the file. A file never opened gets what was held, if its
// directory exists; it is not created.
func (h *heldFile) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.f == nil {
		if h.failed || len(h.held) == 0 {
			return nil
		}
		f, err := store.OpenOwn(h.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil // no directory: stderr had it all
		}
		h.f = f
		f.Write(h.held)
		h.held = nil
	}
	return h.f.Close()
}

// openLog opens the log file for appending, creating it 0600 and its
// directory 0700, without blocking: a FIFO there is refused, not waited on;
// so are a symlink and a file another user owns (store.OpenOwn).
func openLog(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	return store.OpenOwn(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
}

// isJournal reports whether w is the stream that systemd connected to the
// journal: $JOURNAL_STREAM holds its "device:inode".
func isJournal(w io.Writer) bool {
	f, ok := w.(*os.File)
	env := os.Getenv("JOURNAL_STREAM")
	if !ok || env == "" {
		return false
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return env == fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// textHandler writes one plain line a record: "[time] LEVEL: msg k=v".
type textHandler struct {
	out     *lockedWriter
	level   slog.Level
	journal bool
	attrs   string // preformatted " k=v" pairs from WithAttrs
	group   string
}

func (h *textHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *textHandler) Handle(_ context.Context, r slog.Record) error {
	var b bytes.Buffer
	if h.journal {
		fmt.Fprintf(&b, "<%d>", priority(r.Level))
	} else {
		t := r.Time
		if t.IsZero() {
			t = time.Now()
		}
		b.WriteString(t.Format("[2006-01-02 15:04:05] "))
	}
	b.WriteString(levelName(r.Level))
	b.WriteString(": ")
	b.WriteString(human.Clean(r.Message)) // a path may hold a newline: one record, one line
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		appendAttr(&b, h.group, a)
		return true
	})
	b.WriteByte('\n')
	_, err := h.out.Write(b.Bytes())
	return err
}

func (h *textHandler) WithAttrs(as []slog.Attr) slog.Handler {
	var b bytes.Buffer
	for _, a := range as {
		appendAttr(&b, h.group, a)
	}
	h2 := *h
	h2.attrs += b.String()
	return &h2
}

func (h *textHandler) WithGroup(name string) slog.Handler {
	h2 := *h
	h2.group += name + "."
	return &h2
}

func appendAttr(b *bytes.Buffer, group string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		for _, ga := range a.Value.Group() {
			appendAttr(b, group+a.Key+".", ga)
		}
		return
	}
	v := a.Value.String()
	if a.Value.Kind() == slog.KindTime {
		v = a.Value.Time().Format(time.RFC3339)
	}
	if v == "" || strings.ContainsAny(v, " \t\n\"=") || human.Clean(v) != v {
		v = strconv.Quote(v)
	}
	fmt.Fprintf(b, " %s%s=%s", group, a.Key, v)
}

func levelName(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARN"
	case l >= slog.LevelInfo:
		return "INFO"
	}
	return "DEBUG"
}

// priority maps a level to its syslog priority (sd-daemon(3)).
func priority(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return 3
	case l >= slog.LevelWarn:
		return 4
	case l >= slog.LevelInfo:
		return 6
	}
	return 7
}

// ParseLevel reads debug, info, warn or error.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(s))
	return l, err
}
