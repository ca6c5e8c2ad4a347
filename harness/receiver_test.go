package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/refresh-token/refresh-token/internal/testutil"
)

// socketPath returns a socket path short enough for sun_path (108 bytes),
// which t.TempDir's long names can exceed.
func socketPath(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if len(dir) > 80 {
		var err error
		if dir, err = os.MkdirTemp("", "bs"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	return filepath.Join(dir, "bot.sock")
}

// serve starts r and returns a function that stops it and returns Serve's
// error; the test's cleanup calls it too.
func serve(t *testing.T, r *Receiver) (stop func() error) {
	t.Helper()
	if r.Path == "" {
		r.Path = socketPath(t)
	}
	if err := r.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx) }()
	stop = sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Second):
			return errors.New("Serve did not return within 5s of cancel")
		}
	})
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	return stop
}

// send is the sender's side: connect, one write, read the reply until the
// receiver closes.
func send(t *testing.T, path string, msg string) (string, error) {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	reply, err := io.ReadAll(c)
	if len(reply) > 0 && errors.Is(err, syscall.ECONNRESET) {
		// The receiver closed with bytes it never read (a message over
		// 4095 bytes); the kernel resets the connection after the reply.
		err = nil
	}
	return string(reply), err
}

func mustSend(t *testing.T, path, msg string) string {
	t.Helper()
	reply, err := send(t, path, msg)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	return reply
}

const validMsg = `{"access_token":"AT-first-token","refresh_token":"RT-refresh-token","expires_at":1762984855}`

func TestReceiverReplies(t *testing.T) {
	big := `{"access_token":"` + strings.Repeat("a", 5000) + `","refresh_token":"RT","expires_at":5}`
	tests := []struct {
		name   string
		read   ReadMode
		msg    string
		reply  string
		wantOK bool
	}{
		{"valid", ReadSingle, validMsg, "OK", true},
		{"string expires_at", ReadSingle, `{"access_token":"A","refresh_token":"R","expires_at":"5"}`, "ERROR", false},
		{"float expires_at", ReadSingle, `{"access_token":"A","refresh_token":"R","expires_at":1.5}`, "ERROR", false},
		{"missing field", ReadSingle, `{"access_token":"A","expires_at":5}`, "ERROR", false},
		{"not JSON", ReadSingle, `hello`, "ERROR", false},
		{"over 4095 bytes with one recv", ReadSingle, big, "ERROR", false},
		{"over 4095 bytes with stream read", ReadStream, big, "OK", true},
		{"NUL ends the C string", ReadSingle, validMsg + "\x00trailing garbage", "OK", true},
		{"trailing newline", ReadSingle, validMsg + "\n", "OK", true},
		{"stream read of garbage", ReadStream, `{"access_token":x}`, "ERROR", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Receiver{Read: tt.read}
			serve(t, r)
			if got := mustSend(t, r.Path, tt.msg); got != tt.reply {
				t.Errorf("reply = %q, want %q", got, tt.reply)
			}
			got := r.Received()
			if len(got) != 1 || got[0].OK != tt.wantOK || got[0].Ack != tt.reply {
				t.Fatalf("received %+v, want one message with ok=%v ack=%q", got, tt.wantOK, tt.reply)
			}
			if _, ok := r.Current(); ok != tt.wantOK {
				t.Errorf("update applied = %v, want %v", ok, tt.wantOK)
			}
		})
	}
}

func TestReceiverAppliesOnlyWholeMessages(t *testing.T) {
	r := &Receiver{}
	serve(t, r)
	mustSend(t, r.Path, validMsg)
	// The C++ receiver would take these tokens before failing on expires_at.
	if got := mustSend(t, r.Path, `{"access_token":"AT-new","refresh_token":"RT-new","expires_at":"soon"}`); got != "ERROR" {
		t.Fatalf("reply = %q, want ERROR", got)
	}
	want := Message{"AT-first-token", "RT-refresh-token", 1762984855}
	got, ok := r.Current()
	if diff := cmp.Diff(want, got); !ok || diff != "" {
		t.Errorf("current token (-want +got):\n%s", diff)
	}
}

// A message written in two parts arrives in two recvs: the single read sees
// only the first part, the stream read waits for the rest.
func TestReceiverSplitMessage(t *testing.T) {
	first, second := validMsg[:20], validMsg[20:]
	for _, tt := range []struct {
		read  ReadMode
		reply string
	}{{ReadSingle, "ERROR"}, {ReadStream, "OK"}} {
		t.Run(string(tt.read), func(t *testing.T) {
			r := &Receiver{Read: tt.read}
			serve(t, r)
			c, err := net.Dial("unix", r.Path)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write([]byte(first)); err != nil {
				t.Fatal(err)
			}
			if tt.read == ReadSingle {
				// The reply proves the receiver has read the first part
				// before the second is written.
				reply, _ := io.ReadAll(c)
				if string(reply) != tt.reply {
					t.Fatalf("reply = %q, want %q", reply, tt.reply)
				}
				return
			}
			time.Sleep(50 * time.Millisecond)
			if _, err := c.Write([]byte(second)); err != nil {
				t.Fatal(err)
			}
			if reply, _ := io.ReadAll(c); string(reply) != tt.reply {
				t.Fatalf("reply = %q, want %q", reply, tt.reply)
			}
		})
	}
}

func TestReceiverFaults(t *testing.T) {
	t.Run("no-ack", func(t *testing.T) {
		r := &Receiver{NoAck: true}
		serve(t, r)
		if got := mustSend(t, r.Path, validMsg); got != "" {
			t.Errorf("reply = %q, want none", got)
		}
		got := r.Received()
		if len(got) != 1 || got[0].Raw != validMsg || got[0].Ack != "" {
			t.Errorf("received %+v, want the raw message without an ack", got)
		}
	})
	t.Run("ack text", func(t *testing.T) {
		r := &Receiver{Ack: "MAYBE"}
		serve(t, r)
		for _, msg := range []string{validMsg, "junk"} {
			if got := mustSend(t, r.Path, msg); got != "MAYBE" {
				t.Errorf("reply to %q = %q, want MAYBE", msg, got)
			}
		}
	})
	t.Run("ack delay", func(t *testing.T) {
		r := &Receiver{AckDelay: 200 * time.Millisecond}
		serve(t, r)
		start := time.Now()
		if got := mustSend(t, r.Path, validMsg); got != "OK" {
			t.Errorf("reply = %q, want OK", got)
		}
		if d := time.Since(start); d < 200*time.Millisecond {
			t.Errorf("reply after %v, want at least 200ms", d)
		}
	})
	t.Run("fail-first", func(t *testing.T) {
		r := &Receiver{FailFirst: 2}
		serve(t, r)
		for i := range 2 {
			// The connection may be reset rather than closed: the data
			// written was never read.
			if reply, _ := send(t, r.Path, validMsg); reply != "" {
				t.Errorf("connection %d: reply = %q, want none", i+1, reply)
			}
		}
		if got := mustSend(t, r.Path, validMsg); got != "OK" {
			t.Errorf("third connection: reply = %q, want OK", got)
		}
		if n, c := len(r.Received()), r.Connections(); n != 1 || c != 3 {
			t.Errorf("%d messages on %d connections, want 1 on 3", n, c)
		}
	})
	t.Run("count", func(t *testing.T) {
		r := &Receiver{Path: socketPath(t), Count: 2}
		if err := r.Listen(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- r.Serve(context.Background()) }()
		mustSend(t, r.Path, validMsg)
		mustSend(t, r.Path, "junk")
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Serve still running after 2 messages")
		}
		if _, err := os.Lstat(r.Path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("socket left behind: %v", err)
		}
	})
	t.Run("no data", func(t *testing.T) {
		r := &Receiver{}
		serve(t, r)
		c, err := net.Dial("unix", r.Path)
		if err != nil {
			t.Fatal(err)
		}
		c.(*net.UnixConn).CloseWrite()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if reply, err := io.ReadAll(c); err != nil || len(reply) != 0 {
			t.Errorf("reply = %q, %v; want none", reply, err)
		}
		c.Close()
		if got := r.Received(); len(got) != 0 {
			t.Errorf("received %+v, want nothing", got)
		}
	})
	t.Run("silent client times out", func(t *testing.T) {
		r := &Receiver{ReadTimeout: 100 * time.Millisecond}
		serve(t, r)
		c, err := net.Dial("unix", r.Path)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Connections are answered one at a time: this one waits for
		// the silent one to time out.
		if got := mustSend(t, r.Path, validMsg); got != "OK" {
			t.Errorf("reply after a silent client = %q, want OK", got)
		}
	})
}

func TestReceiverShutdownWithSilentClient(t *testing.T) {
	r := &Receiver{ReadTimeout: -1} // no deadline, as the C++ receiver
	stop := serve(t, r)
	c, err := net.Dial("unix", r.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for r.Connections() == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestReceiverSocket(t *testing.T) {
	t.Run("mode from the umask", func(t *testing.T) {
		// The umask is the process's: no test here runs in parallel.
		old := syscall.Umask(0o027)
		defer syscall.Umask(old)
		r := &Receiver{}
		serve(t, r)
		checkSocket(t, r.Path, 0o750)
	})
	t.Run("mode 0660", func(t *testing.T) {
		r := &Receiver{Mode: 0o660}
		serve(t, r)
		checkSocket(t, r.Path, 0o660)
	})
	t.Run("stale socket removed", func(t *testing.T) {
		path := socketPath(t)
		ln, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		ln.(*net.UnixListener).SetUnlinkOnClose(false)
		ln.Close() // the socket file stays; connections are refused
		r := &Receiver{Path: path, Mode: 0o600}
		serve(t, r)
		checkSocket(t, path, 0o600)
		if got := mustSend(t, path, validMsg); got != "OK" {
			t.Errorf("reply = %q, want OK", got)
		}
	})
	t.Run("removed on shutdown", func(t *testing.T) {
		r := &Receiver{}
		stop := serve(t, r)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(r.Path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("socket left behind: %v", err)
		}
	})
	t.Run("directory in the way", func(t *testing.T) {
		path := socketPath(t)
		if err := os.Mkdir(path, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := (&Receiver{Path: path}).Listen(); err == nil {
			t.Error("Listen over a directory succeeded")
		}
	})
}

func checkSocket(t *testing.T, path string, perm fs.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != perm {
		t.Errorf("%s: mode %v, want a socket with %v", path, fi.Mode(), perm)
	}
}

func TestReceiverRecord(t *testing.T) {
	record := filepath.Join(t.TempDir(), "record.jsonl")
	out := &testutil.SyncBuffer{}
	r := &Receiver{Record: record, Out: out}
	stop := serve(t, r)
	mustSend(t, r.Path, validMsg)
	mustSend(t, r.Path, `{"access_token":"AT-second","refresh_token":"RT-second","expires_at":1.5}`)
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	fi, err := os.Stat(record)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("record file mode %v, want 0600", fi.Mode().Perm())
	}
	f, err := os.Open(record)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []Received
	for sc := bufio.NewScanner(f); sc.Scan(); {
		var rec Received
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("record line %q: %v", sc.Text(), err)
		}
		got = append(got, rec)
	}
	uid := os.Getuid()
	want := []Received{
		{Message: Message{"AT-first-token", "RT-refresh-token", 1762984855}, PeerUID: uid, OK: true, Ack: "OK", Raw: validMsg, RawBase64: b64(validMsg)},
		{PeerUID: uid, Error: "expires_at: not an integer: 1.5", Ack: "ERROR",
			Raw:       `{"access_token":"AT-second","refresh_token":"RT-second","expires_at":1.5}`,
			RawBase64: b64(`{"access_token":"AT-second","refresh_token":"RT-second","expires_at":1.5}`)},
	}
	opt := cmpopts.IgnoreFields(Received{}, "ReceivedAt")
	if diff := cmp.Diff(want, got, opt); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(r.Received(), got); diff != "" {
		t.Errorf("record differs from Received (-Received +record):\n%s", diff)
	}
	for _, rec := range got {
		if age := time.Since(time.Unix(0, rec.ReceivedAt)); age < 0 || age > time.Minute {
			t.Errorf("received_unix_nano %d is not recent", rec.ReceivedAt)
		}
	}

	// The log shows the peer's uid but no whole token.
	log := out.String()
	for _, secret := range []string{"AT-first-token", "RT-refresh-token", "AT-second"} {
		if strings.Contains(log, secret) {
			t.Errorf("log shows token %s:\n%s", secret, log)
		}
	}
	for _, want := range []string{"access_token=AT-f…", "from uid ", `-> "OK"`, `-> "ERROR"`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

func TestReceiverRecordAppends(t *testing.T) {
	record := filepath.Join(t.TempDir(), "record.jsonl")
	for range 2 {
		r := &Receiver{Record: record}
		stop := serve(t, r)
		mustSend(t, r.Path, validMsg)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(data, []byte("\n")); n != 2 {
		t.Errorf("record has %d lines, want 2", n)
	}
}

// The parser of each mode, behind the receiver's reply: strict refuses what
// only the bot's JSON library accepts.
func TestReceiverParse(t *testing.T) {
	const bom = "\xef\xbb\xbf"
	tests := []struct {
		name    string
		msg     string
		strict  string
		lenient string
		expires int64 // applied by lenient
	}{
		{"integer", validMsg, "OK", "OK", 1762984855},
		{"exponent", `{"access_token":"A","refresh_token":"R","expires_at":1.7e9}`, "ERROR", "OK", 1700000000},
		{"fraction truncated", `{"access_token":"A","refresh_token":"R","expires_at":1700000000.9}`, "ERROR", "OK", 1700000000},
		{"BOM skipped", bom + validMsg, "ERROR", "OK", 1762984855},
		{"string expires_at", `{"access_token":"A","refresh_token":"R","expires_at":"5"}`, "ERROR", "ERROR", 0},
	}
	for _, tt := range tests {
		for _, mode := range []ParseMode{ParseStrict, ParseLenient} {
			t.Run(tt.name+"/"+string(mode), func(t *testing.T) {
				r := &Receiver{Parse: mode}
				serve(t, r)
				want := map[ParseMode]string{ParseStrict: tt.strict, ParseLenient: tt.lenient}[mode]
				if got := mustSend(t, r.Path, tt.msg); got != want {
					t.Fatalf("reply = %q, want %q", got, want)
				}
				m, ok := r.Current()
				if ok != (want == "OK") || ok && m.ExpiresAt != tt.expires {
					t.Errorf("current = %+v (applied %v), want expires_at %d applied %v", m, ok, tt.expires, want == "OK")
				}
			})
		}
	}
}

// With NoAck it is the bot's TokenReceiver: one read of 8192 bytes, the
// bytes kept as they are, no reply.
func TestReceiverNoAckRead(t *testing.T) {
	msgOf := func(size int) string {
		head := `{"access_token":"`
		tail := `","refresh_token":"R","expires_at":5}`
		return head + strings.Repeat("a", size-len(head)-len(tail)) + tail
	}
	tests := []struct {
		size int
		ok   bool
		read int
	}{
		{MaxMessage + 1, true, MaxMessage + 1}, // too long for the JSON receiver
		{NoAckRead - 1, true, NoAckRead - 1},
		{NoAckRead, true, NoAckRead},
		{NoAckRead + 1, false, NoAckRead},
	}
	for _, tt := range tests {
		r := &Receiver{NoAck: true}
		serve(t, r)
		if reply, err := send(t, r.Path, msgOf(tt.size)); reply != "" || err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("%d bytes: reply %q, %v; want none", tt.size, reply, err)
		}
		got := r.Received()
		if len(got) != 1 || got[0].OK != tt.ok || len(got[0].Raw) != tt.read || got[0].Ack != "" {
			t.Errorf("%d bytes: received %d messages, first ok=%v, %d bytes read; want ok=%v, %d bytes", tt.size, len(got), len(got) > 0 && got[0].OK, len(got[0].Raw), tt.ok, tt.read)
		}
	}
}

func TestReceiverReadTimeoutDefaults(t *testing.T) {
	tests := []struct {
		r    *Receiver
		want time.Duration
	}{
		{&Receiver{}, DefaultReadTimeout},
		{&Receiver{NoAck: true}, 5 * time.Second},
		{&Receiver{NoAck: true, ReadTimeout: time.Second}, time.Second},
		{&Receiver{ReadTimeout: -1}, -1},
	}
	for _, tt := range tests {
		if got := tt.r.readTimeout(); got != tt.want {
			t.Errorf("NoAck %v, ReadTimeout %v: timeout %v, want %v", tt.r.NoAck, tt.r.ReadTimeout, got, tt.want)
		}
	}
	if DefaultReadTimeout != 10*time.Second {
		t.Errorf("DefaultReadTimeout = %v, want 10s", DefaultReadTimeout)
	}
}

// The bot does not ignore SIGPIPE: a reply to a client that has gone kills
// it, and its socket file stays behind. A client that only half-closed is
// still answered.
func TestReceiverDieOnEarlyClose(t *testing.T) {
	t.Run("half-closed client is answered", func(t *testing.T) {
		r := &Receiver{DieOnEarlyClose: true, AckDelay: 50 * time.Millisecond}
		serve(t, r)
		c, err := net.Dial("unix", r.Path)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, validMsg)
		c.(*net.UnixConn).CloseWrite()
		if reply, _ := io.ReadAll(c); string(reply) != "OK" {
			t.Fatalf("reply = %q, want OK", reply)
		}
		if got := mustSend(t, r.Path, validMsg); got != "OK" {
			t.Errorf("next client: reply %q, want OK", got)
		}
	})
	for _, die := range []bool{true, false} {
		t.Run(fmt.Sprintf("die=%v", die), func(t *testing.T) {
			r := &Receiver{Path: socketPath(t), DieOnEarlyClose: die, AckDelay: 100 * time.Millisecond}
			if err := r.Listen(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- r.Serve(ctx) }()
			c, err := net.Dial("unix", r.Path)
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(c, validMsg)
			c.Close() // gone before the reply, 100 ms later
			if !die {
				if got := mustSend(t, r.Path, validMsg); got != "OK" {
					t.Errorf("next client: reply %q, want OK", got)
				}
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Serve: %v", err)
				}
				return
			}
			select {
			case err := <-done:
				if !errors.Is(err, ErrEarlyClose) {
					t.Fatalf("Serve = %v, want ErrEarlyClose", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("still serving after the client left before the reply")
			}
			if _, err := os.Lstat(r.Path); err != nil {
				t.Errorf("socket file: %v, want it left behind as by a dead bot", err)
			}
			if _, err := net.Dial("unix", r.Path); !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("connect after the death: %v, want connection refused", err)
			}
		})
	}
}

// Linux queues backlog+1 connections that the receiver has not accepted;
// the next connect fails at once with EAGAIN.
func TestReceiverBacklog(t *testing.T) {
	for _, tt := range []struct{ backlog, queued int }{{0, DefaultBacklog + 1}, {1, 2}} {
		t.Run(fmt.Sprint(tt.backlog), func(t *testing.T) {
			r := &Receiver{Backlog: tt.backlog, ReadTimeout: -1}
			serve(t, r)
			// The first client holds the receiver in its read, without a
			// deadline, as a silent client holds the bot.
			busy, err := net.Dial("unix", r.Path)
			if err != nil {
				t.Fatal(err)
			}
			defer busy.Close()
			for r.Connections() == 0 {
				time.Sleep(time.Millisecond)
			}
			var conns []net.Conn
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			for i := range tt.queued + 1 {
				c, err := net.Dial("unix", r.Path)
				if i < tt.queued {
					if err != nil {
						t.Fatalf("connection %d of %d queued: %v", i+1, tt.queued, err)
					}
					conns = append(conns, c)
					continue
				}
				if !errors.Is(err, syscall.EAGAIN) {
					t.Fatalf("connection %d: %v, want EAGAIN (queue full)", i+1, err)
				}
			}
		})
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// The lenient receiver applies the fields a message has and keeps the
// others, as the bot's JSON receiver does; the bytes it read are kept
// exactly, invalid UTF-8 too.
func TestReceiverLenientAppliesPart(t *testing.T) {
	r := &Receiver{Parse: ParseLenient}
	serve(t, r)
	mustSend(t, r.Path, validMsg)
	if got := mustSend(t, r.Path, `{"access_token":"AT-second"}`); got != "OK" {
		t.Fatalf("reply %q, want OK", got)
	}
	if got := mustSend(t, r.Path, `[]`); got != "OK" {
		t.Fatalf("reply %q to [], want OK", got)
	}
	if m, _ := r.Current(); m != (Message{"AT-second", "RT-refresh-token", 1762984855}) {
		t.Errorf("current %+v, want the new access token and the rest as before", m)
	}
	raw := "\xff" + validMsg
	if got := mustSend(t, r.Path, raw); got != "ERROR" {
		t.Errorf("reply %q to invalid UTF-8, want ERROR", got)
	}
	recs := r.Received()
	if last := recs[len(recs)-1]; last.RawBase64 != b64(raw) {
		t.Errorf("raw_base64 %q, want the bytes exactly", last.RawBase64)
	}
}

// bot-sim never removes a socket another process listens on: it refuses,
// exit 75, and the socket keeps working; a stale socket (refused) and no
// socket at all are fine; a file that is not a socket is left alone.
func TestListenLeavesLiveSockets(t *testing.T) {
	path := socketPath(t)
	live, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	r := &Receiver{Path: path}
	if err := r.Listen(); !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "another process is listening on "+path+"; is the bot running?") {
		t.Fatalf("Listen over a live socket: %v", err)
	}
	var out, errb bytes.Buffer
	if code := Main(t.Context(), []string{"receive", "--socket", path}, &out, &errb); code != 75 {
		t.Errorf("bot-sim receive over a live socket: exit %d, want 75\n%s", code, errb.String())
	}
	if c, err := net.Dial("unix", path); err != nil {
		t.Errorf("the live socket was removed: %v", err)
	} else {
		c.Close()
	}
	live.(*net.UnixListener).SetUnlinkOnClose(false)
	live.Close() // stale now: refused
	if err := r.Listen(); err != nil {
		t.Errorf("Listen over a stale socket: %v", err)
	}
	r.Close()
	plain := socketPath(t)
	os.WriteFile(plain, []byte("keep"), 0o600)
	if err := (&Receiver{Path: plain}).Listen(); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("Listen over a regular file: %v", err)
	}
	if data, _ := os.ReadFile(plain); string(data) != "keep" {
		t.Error("the regular file was removed")
	}
}
