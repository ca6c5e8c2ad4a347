// Send checks the server's uid with SO_PEERCRED, which only Linux has.

//go:build linux

package deliver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/refresh-token/refresh-token/internal/leakcheck"
	"github.com/refresh-token/refresh-token/internal/testutil"
)

// squatterEnv makes the test binary act as a server run by another user.
const squatterEnv = "DELIVER_TEST_SQUATTER"

func TestMain(m *testing.M) {
	if path := os.Getenv(squatterEnv); path != "" {
		squat(path)
		return
	}
	os.Exit(leakcheck.Main(m))
}

// squat serves path like the bot but as whoever runs it, reporting on stdout
// how many bytes each connection sent. It exits when stdin closes.
func squat(path string) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	fmt.Println("ready")
	for {
		c, err := ln.Accept()
		if err != nil {
			os.Exit(1)
		}
		buf := make([]byte, 4096)
		n, _ := c.Read(buf)
		fmt.Printf("read %d\n", n)
		if n > 0 {
			c.Write([]byte("OK"))
		}
		c.Close()
	}
}

// server is a bot stand-in: one read per connection, as the C++ receiver
// does, then a reply chosen by the test.
type server struct {
	path string
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	got  [][]byte
}

// serve starts a server at a fresh path. reply runs for connection i after
// the server's single read and may write an acknowledgement; the server
// closes the connection when it returns.
func serve(t testing.TB, reply func(i int, c net.Conn)) *server {
	t.Helper()
	return serveAt(t, filepath.Join(testutil.ShortTempDir(t), "s"), reply)
}

func serveAt(t testing.TB, path string, reply func(i int, c net.Conn)) *server {
	t.Helper()
	return serveRead(t, path, 4096, reply)
}

// serveRead is serveAt with a single read of size bytes: 4096 for the bot's
// JSON receiver, 8192 for its TokenReceiver.
func serveRead(t testing.TB, path string, size int, reply func(i int, c net.Conn)) *server {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{path: path, ln: ln}
	s.wg.Go(func() {
		for i := 0; ; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			buf := make([]byte, size)
			n, _ := c.Read(buf)
			s.mu.Lock()
			s.got = append(s.got, buf[:n])
			s.mu.Unlock()
			if reply != nil {
				reply(i, c)
			}
			c.Close()
		}
	})
	t.Cleanup(s.close)
	return s
}

// close stops the server and returns what each connection sent.
func (s *server) close() {
	s.ln.Close()
	s.wg.Wait()
}

func (s *server) received() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.got...)
}

func write(text string) func(int, net.Conn) {
	return func(_ int, c net.Conn) { io.WriteString(c, text) }
}

// untilEOF holds the connection open until the client closes it.
func untilEOF(_ int, c net.Conn) { io.Copy(io.Discard, c) }

// staleSocket leaves a socket file nobody listens on: connect is refused.
func staleSocket(t *testing.T) string {
	t.Helper()
	path := filepath.Join(testutil.ShortTempDir(t), "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	return path
}

// logRecorder keeps log lines and lets a test act when a WARN is logged,
// that is between two attempts, without depending on timing.
type logRecorder struct {
	mu     sync.Mutex
	lines  []string
	warns  int
	onWarn func(n int)
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.lines = append(l.lines, r.Level.String()+" "+r.Message)
	var n int
	if r.Level == slog.LevelWarn {
		l.warns++
		n = l.warns
	}
	l.mu.Unlock()
	if n > 0 && l.onWarn != nil {
		l.onWarn(n)
	}
	return nil
}

func (l *logRecorder) warnLines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var w []string
	for _, line := range l.lines {
		if strings.HasPrefix(line, "WARN ") {
			w = append(w, line)
		}
	}
	return w
}

const secret = "I0.SECRETaccess"

func testMessage(t *testing.T) []byte {
	t.Helper()
	msg, err := Message{AccessToken: secret, RefreshToken: "SECRETrefresh", ExpiresAt: 1762984855}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// fast retries quickly; a test that must prove no delay sets RetryDelay to an hour.
func fast(log *logRecorder) Options {
	return Options{Retries: 3, RetryDelay: time.Millisecond, Timeout: 5 * time.Second, Logger: slog.New(log)}
}

func TestSendOK(t *testing.T) {
	s := serve(t, write("OK"))
	msg := testMessage(t)
	log := &logRecorder{}
	if err := Send(t.Context(), s.path, msg, fast(log)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]byte{msg}, s.received()); diff != "" {
		t.Errorf("server received (-want +got):\n%s", diff)
	}
	for _, line := range log.lines {
		if strings.Contains(line, "SECRET") {
			t.Errorf("token logged: %q", line)
		}
	}
	if w := log.warnLines(); len(w) != 0 {
		t.Errorf("WARN lines on success: %q", w)
	}
}

// The bot closes after "OK", but Send must not depend on it: a reply is
// complete as soon as its bytes are in, even if they come one at a time.
func TestSendOKWithoutEOF(t *testing.T) {
	s := serve(t, func(_ int, c net.Conn) {
		io.WriteString(c, "O")
		time.Sleep(10 * time.Millisecond)
		io.WriteString(c, "K")
		io.Copy(io.Discard, c)
	})
	opt := fast(&logRecorder{})
	opt.Retries = 1
	if err := Send(t.Context(), s.path, testMessage(t), opt); err != nil {
		t.Fatal(err)
	}
}

func TestSendMaxMessageInOneRead(t *testing.T) {
	s := serve(t, write("OK"))
	msg := []byte(strings.Repeat("x", MaxMessage))
	if err := Send(t.Context(), s.path, msg, fast(&logRecorder{})); err != nil {
		t.Fatal(err)
	}
	got := s.received()
	if len(got) != 1 || len(got[0]) != MaxMessage {
		t.Errorf("server's single read got %d connections, first %d bytes; want 1 of %d", len(got), len(got[0]), MaxMessage)
	}
}

// Every bad acknowledgement is retried until the attempts run out, and the
// error names the count and wraps the last cause.
func TestSendBadReplies(t *testing.T) {
	tests := []struct {
		name   string
		reply  func(int, net.Conn)
		is     error
		reply2 string // for *UnexpectedReplyError
	}{
		{name: "ERROR", reply: write("ERROR"), is: ErrRejected},
		{name: "no ack, as the older receiver", reply: nil, is: ErrNoAck},
		{name: "OK with newline", reply: write("OK\n"), reply2: "OK\n"},
		{name: "ERROR with newline", reply: write("ERROR\n"), reply2: "ERROR\n"},
		{name: "other text", reply: write("NOPE"), reply2: "NOPE"},
		{name: "lowercase", reply: write("ok"), reply2: "ok"},
		{name: "truncated ERROR", reply: write("ERR"), reply2: "ERR"},
		{name: "truncated OK", reply: write("O"), reply2: "O"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := serve(t, tt.reply)
			log := &logRecorder{}
			msg := testMessage(t)
			err := Send(t.Context(), s.path, msg, fast(log))
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("Send() = %v, want %v", err, tt.is)
			}
			if tt.reply2 != "" {
				var ue *UnexpectedReplyError
				if !errors.As(err, &ue) {
					t.Fatalf("Send() = %v, want *UnexpectedReplyError", err)
				}
				if ue.Reply != tt.reply2 {
					t.Errorf("Reply = %q, want %q", ue.Reply, tt.reply2)
				}
			}
			if !strings.Contains(err.Error(), "after 3 attempts") {
				t.Errorf("error %q does not count the attempts", err)
			}
			if got := len(s.received()); got != 3 {
				t.Errorf("server saw %d connections, want 3", got)
			}
			want := fmt.Sprintf("WARN attempt 1/3 to %s failed: %v; retrying in 1ms", s.path, errors.Unwrap(err))
			if w := log.warnLines(); len(w) != 2 || w[0] != want {
				t.Errorf("WARN lines = %q, want 2 starting with %q", w, want)
			}
		})
	}
}

// A bot that answers ERROR once and then OK gets the token on attempt 2.
func TestSendRetrySucceeds(t *testing.T) {
	s := serve(t, func(i int, c net.Conn) {
		if i == 0 {
			io.WriteString(c, "ERROR")
			return
		}
		io.WriteString(c, "OK")
	})
	if err := Send(t.Context(), s.path, testMessage(t), fast(&logRecorder{})); err != nil {
		t.Fatal(err)
	}
	if got := len(s.received()); got != 2 {
		t.Errorf("server saw %d connections, want 2", got)
	}
}

// A bot starting late: its stale socket refuses the first attempts, then
// it binds (here, when the second failure is logged) and accepts.
func TestSendRefusedThenAccepted(t *testing.T) {
	path := staleSocket(t)
	msg := testMessage(t)
	var s *server
	log := &logRecorder{onWarn: func(n int) {
		if n == 2 {
			os.Remove(path) // as the bot does before bind
			s = serveAt(t, path, write("OK"))
		}
	}}
	if err := Send(t.Context(), path, msg, fast(log)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]byte{msg}, s.received()); diff != "" {
		t.Errorf("server received (-want +got):\n%s", diff)
	}
	want := []string{
		fmt.Sprintf("WARN attempt 1/3 to %s failed: connect: connection refused; retrying in 1ms", path),
		fmt.Sprintf("WARN attempt 2/3 to %s failed: connect: connection refused; retrying in 1ms", path),
	}
	if diff := cmp.Diff(want, log.warnLines()); diff != "" {
		t.Errorf("WARN lines (-want +got):\n%s", diff)
	}
}

func TestSendRefused(t *testing.T) {
	path := staleSocket(t)
	err := Send(t.Context(), path, testMessage(t), fast(&logRecorder{}))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Send() = %v, want connection refused", err)
	}
	want := fmt.Sprintf("send token to %s failed after 3 attempts: connect: connection refused", path)
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

func TestSendAckTimeout(t *testing.T) {
	s := serve(t, untilEOF)
	opt := fast(&logRecorder{})
	opt.Retries = 2
	opt.Timeout = 50 * time.Millisecond
	err := Send(t.Context(), s.path, testMessage(t), opt)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Send() = %v, want a timeout", err)
	}
	if got := len(s.received()); got != 2 {
		t.Errorf("server saw %d connections, want 2", got)
	}
}

// A missing socket means the bot is not running: no retry and no delay
// (an hour's delay would time the test out).
func TestSendNotRunning(t *testing.T) {
	for _, path := range []string{
		filepath.Join(testutil.ShortTempDir(t), "s"),
		filepath.Join(testutil.ShortTempDir(t), "missing-dir", "s"),
	} {
		log := &logRecorder{}
		opt := fast(log)
		opt.RetryDelay = time.Hour
		err := Send(t.Context(), path, testMessage(t), opt)
		if !errors.Is(err, ErrNotRunning) {
			t.Fatalf("Send(%s) = %v, want ErrNotRunning", path, err)
		}
		if w := log.warnLines(); len(w) != 0 {
			t.Errorf("WARN lines = %q, want none", w)
		}
	}
}

// A socket that disappears after a failed attempt belongs to a bot that is
// restarting: it is retried like any other failure.
func TestSendSocketVanishes(t *testing.T) {
	path := staleSocket(t)
	log := &logRecorder{onWarn: func(int) { os.Remove(path) }}
	opt := fast(log)
	opt.Retries = 2
	err := Send(t.Context(), path, testMessage(t), opt)
	if !errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), "after 2 attempts") {
		t.Fatalf("Send() = %v, want ErrNotRunning after 2 attempts", err)
	}
}

func TestSendNotSocket(t *testing.T) {
	path := filepath.Join(testutil.ShortTempDir(t), "s")
	if err := os.WriteFile(path, []byte("x"), 0o666); err != nil {
		t.Fatal(err)
	}
	opt := fast(&logRecorder{})
	opt.RetryDelay = time.Hour
	err := Send(t.Context(), path, testMessage(t), opt)
	var ns *NotSocketError
	if !errors.As(err, &ns) || ns.Path != path {
		t.Fatalf("Send() = %v, want *NotSocketError for %s", err, path)
	}
	if b, _ := os.ReadFile(path); string(b) != "x" {
		t.Errorf("file now holds %q", b)
	}
}

// Symlinks are followed: the server's uid is checked either way.
func TestSendSymlink(t *testing.T) {
	s := serve(t, write("OK"))
	link := filepath.Join(testutil.ShortTempDir(t), "l")
	if err := os.Symlink(s.path, link); err != nil {
		t.Fatal(err)
	}
	if err := Send(t.Context(), link, testMessage(t), fast(&logRecorder{})); err != nil {
		t.Fatal(err)
	}
}

// Too large for the kind of receiver, or empty: refused before connecting.
func TestSendRefusesBadSize(t *testing.T) {
	s := serve(t, write("OK"))
	for _, tt := range []struct {
		ack  Ack
		size int
	}{{AckOK, 0}, {AckOK, MaxMessage + 1}, {"", MaxMessage + 1}, {AckNone, 0}, {AckNone, MaxMessageNoAck + 1}} {
		opt := fast(&logRecorder{})
		opt.Ack = tt.ack
		err := Send(t.Context(), s.path, make([]byte, tt.size), opt)
		if err == nil {
			t.Errorf("Send() of %d bytes with ack %q succeeded", tt.size, tt.ack)
		}
		if tt.size > 0 && !errors.Is(err, ErrTooLarge) {
			t.Errorf("Send() of %d bytes with ack %q = %v, want ErrTooLarge", tt.size, tt.ack, err)
		}
	}
	s.close()
	if got := s.received(); len(got) != 0 {
		t.Errorf("server saw %d connections, want none", len(got))
	}
}

// Cancelling the context stops a pending attempt at once, without retries.
func TestSendCancelDuringAttempt(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	s := serve(t, func(_ int, c net.Conn) {
		cancel()
		io.Copy(io.Discard, c)
	})
	err := Send(ctx, s.path, testMessage(t), fast(&logRecorder{}))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Send() = %v, want context.Canceled", err)
	}
	if got := len(s.received()); got != 1 {
		t.Errorf("server saw %d connections, want 1", got)
	}
}

func TestSendCancelDuringDelay(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	path := staleSocket(t)
	opt := fast(&logRecorder{onWarn: func(int) { cancel() }})
	opt.RetryDelay = time.Hour
	err := Send(ctx, path, testMessage(t), opt)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Send() = %v, want context.Canceled", err)
	}
}

func TestOptionsDefaults(t *testing.T) {
	got := Options{}.withDefaults()
	if got.Retries != 3 || got.RetryDelay != 5*time.Second || got.Timeout != 5*time.Second || got.Logger == nil {
		t.Errorf("defaults = %+v", got)
	}
	if got := (Options{RetryDelay: -1}).withDefaults().RetryDelay; got != 0 {
		t.Errorf("negative RetryDelay became %s, want 0", got)
	}
}

// squatter runs the test binary as uid 65534 serving a socket, as a local
// user squatting the bot's path in /tmp would. Its stdout says "read N" per
// connection.
type squatter struct {
	path  string
	cmd   *exec.Cmd
	stdin io.Closer
	out   *bufio.Scanner
}

const nobody = 65534

func startSquatter(t *testing.T) *squatter {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a server as another uid")
	}
	dir := testutil.ShortTempDir(t)
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	// The test binary's own directory is private to root: copy it out.
	bin := testutil.CopyExecutable(t, dir)

	sq := &squatter{path: filepath.Join(dir, "s")}
	sq.cmd = exec.Command(bin)
	sq.cmd.Env = append(os.Environ(), squatterEnv+"="+sq.path, "GOCOVERDIR=")
	sq.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	sq.cmd.Stderr = os.Stderr
	var err error
	if sq.stdin, err = sq.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := sq.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sq.cmd.Start(); err != nil {
		t.Skipf("cannot start a process as uid %d: %v", nobody, err)
	}
	t.Cleanup(func() {
		sq.stdin.Close()
		sq.cmd.Wait()
	})
	sq.out = bufio.NewScanner(stdout)
	if line := sq.next(t); line != "ready" {
		t.Fatalf("squatter said %q", line)
	}
	return sq
}

func (sq *squatter) next(t *testing.T) string {
	t.Helper()
	if !sq.out.Scan() {
		t.Fatalf("squatter exited: %v", sq.out.Err())
	}
	return sq.out.Text()
}

// A socket served by another user gets nothing, not even one byte, and is
// not retried.
func TestSendUntrusted(t *testing.T) {
	sq := startSquatter(t)
	log := &logRecorder{}
	opt := fast(log)
	opt.RetryDelay = time.Hour
	err := Send(t.Context(), sq.path, testMessage(t), opt)
	var ue *UntrustedError
	if !errors.As(err, &ue) {
		t.Fatalf("Send() = %v, want *UntrustedError", err)
	}
	if diff := cmp.Diff(&UntrustedError{Path: sq.path, UID: nobody}, ue); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
	if got := sq.next(t); got != "read 0" {
		t.Errorf("squatter: %q, want %q", got, "read 0")
	}
	if w := log.warnLines(); len(w) != 0 {
		t.Errorf("WARN lines = %q, want none", w)
	}
}

func TestSendTrustUIDs(t *testing.T) {
	sq := startSquatter(t)
	msg := testMessage(t)
	opt := fast(&logRecorder{})
	opt.TrustUIDs = []int{1000, nobody}
	if err := Send(t.Context(), sq.path, msg, opt); err != nil {
		t.Fatal(err)
	}
	if got, want := sq.next(t), fmt.Sprintf("read %d", len(msg)); got != want {
		t.Errorf("squatter: %q, want %q", got, want)
	}
}

// noAck is the bot's TokenReceiver as the tests see it: one read of 8192
// bytes, then close without a reply.
func noAck(t *testing.T, reply func(int, net.Conn)) *server {
	t.Helper()
	return serveRead(t, filepath.Join(testutil.ShortTempDir(t), "s"), 8192, reply)
}

func noAckOptions(log *logRecorder) Options {
	opt := fast(log)
	opt.Ack = AckNone
	return opt
}

// With AckNone the message goes out in one write followed by a half-close,
// and a bot that closes without a word has it: delivered at once.
func TestSendNoAck(t *testing.T) {
	eof := make(chan error, 1)
	s := noAck(t, func(_ int, c net.Conn) {
		// The half-close: the next read ends at once with EOF.
		_, err := c.Read(make([]byte, 1))
		eof <- err
	})
	msg := testMessage(t)
	log := &logRecorder{}
	start := time.Now()
	if err := Send(t.Context(), s.path, msg, noAckOptions(log)); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d >= noAckWait {
		t.Errorf("Send took %v: it waited out the %v instead of seeing the close", d, noAckWait)
	}
	if err := <-eof; !errors.Is(err, io.EOF) {
		t.Errorf("server's second read: %v, want EOF from the half-close", err)
	}
	if diff := cmp.Diff([][]byte{msg}, s.received()); diff != "" {
		t.Errorf("server received (-want +got):\n%s", diff)
	}
	if w := log.warnLines(); len(w) != 0 {
		t.Errorf("WARN lines = %q, want none", w)
	}
}

// 8191 bytes reach TokenReceiver's 8192-byte read in one piece.
func TestSendNoAckMaxMessageInOneRead(t *testing.T) {
	s := noAck(t, nil)
	msg := []byte(strings.Repeat("x", MaxMessageNoAck))
	if err := Send(t.Context(), s.path, msg, noAckOptions(&logRecorder{})); err != nil {
		t.Fatal(err)
	}
	got := s.received()
	if len(got) != 1 || len(got[0]) != MaxMessageNoAck {
		t.Fatalf("server's single read: %d connections, want 1 of %d bytes", len(got), MaxMessageNoAck)
	}
}

// A message written whole is never sent again, whatever follows: a second
// copy would be applied twice. Three attempts are allowed; one is made.
func TestSendNoAckNeverResends(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
		reply   func(int, net.Conn)
		hold    bool  // the bot keeps the connection open until the test ends
		wantErr error // nil: delivered
		minTime time.Duration
	}{
		{name: "answers OK anyway", reply: write("OK")},
		{name: "keeps the connection open past the wait", hold: true, minTime: noAckWait},
		{name: "keeps it open past the attempt's timeout", timeout: 200 * time.Millisecond, hold: true,
			minTime: 200 * time.Millisecond},
		{name: "answers ERROR", reply: write("ERROR"), wantErr: ErrRejected},
		{name: "answers something else", reply: write("NOPE"), wantErr: &UnexpectedReplyError{}},
		{name: "closes without reading it all", reply: nil, wantErr: syscall.ECONNRESET},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s *server
			if tt.hold {
				release := make(chan struct{})
				s = noAck(t, func(int, net.Conn) { <-release })
				// Cleanups run last first: the bot lets go before the server stops.
				t.Cleanup(func() { close(release) })
			} else if tt.wantErr == syscall.ECONNRESET {
				// One read of 10 bytes leaves the rest unread at close.
				s = serveRead(t, filepath.Join(testutil.ShortTempDir(t), "s"), 10, nil)
			} else {
				s = noAck(t, tt.reply)
			}
			log := &logRecorder{}
			opt := noAckOptions(log)
			if tt.timeout > 0 {
				opt.Timeout = tt.timeout
			}
			start := time.Now()
			err := Send(t.Context(), s.path, testMessage(t), opt)
			took := time.Since(start)
			switch want := tt.wantErr.(type) {
			case nil:
				if err != nil {
					t.Fatalf("Send() = %v, want delivered", err)
				}
			case *UnexpectedReplyError:
				if !errors.As(err, &want) || want.Reply != "NOPE" {
					t.Fatalf("Send() = %v, want unexpected reply NOPE", err)
				}
			default:
				if !errors.Is(err, want) {
					t.Fatalf("Send() = %v, want %v", err, want)
				}
			}
			if err != nil && !strings.Contains(err.Error(), "written whole: not sent again") {
				t.Errorf("error %q does not say why it was not retried", err)
			}
			if took < tt.minTime || took > tt.minTime+2*time.Second {
				t.Errorf("Send took %v, want about %v", took, tt.minTime)
			}
			if n := len(s.received()); n != 1 {
				t.Errorf("server saw %d connections, want 1", n)
			}
			if w := log.warnLines(); len(w) != 0 {
				t.Errorf("WARN lines = %q, want none: no attempt was retried", w)
			}
		})
	}
}

// Failures before the message was written whole are retried with AckNone
// as with AckOK: here a bot whose stale socket refuses two attempts.
func TestSendNoAckRetriesUntilWritten(t *testing.T) {
	path := staleSocket(t)
	msg := testMessage(t)
	var s *server
	log := &logRecorder{onWarn: func(n int) {
		if n == 2 {
			os.Remove(path)
			s = serveRead(t, path, 8192, nil)
		}
	}}
	if err := Send(t.Context(), path, msg, noAckOptions(log)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]byte{msg}, s.received()); diff != "" {
		t.Errorf("server received (-want +got):\n%s", diff)
	}
	if n := len(log.warnLines()); n != 2 {
		t.Errorf("%d WARN lines, want 2 (one per refused attempt)", n)
	}
}
