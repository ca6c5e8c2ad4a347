package deliver

import (
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/internal/testutil"
)

func autoOptions(log *logRecorder) Options {
	opt := fast(log)
	opt.Ack = AckAuto
	return opt
}

// --ack=auto against each way a bot can answer: OK is delivered, and so is
// a close after the whole message was read (TokenReceiver), once; ERROR,
// a reset (the bot did not read it all) and silence are not, and are tried
// again.
func TestSendAuto(t *testing.T) {
	for _, tt := range []struct {
		name      string
		reply     func(int, net.Conn)
		size      int // the bot's single read
		want      Reply
		err       string
		attempts  int
		timeoutMs int
	}{
		{"OK", write("OK"), 4096, ReplyOK, "", 1, 0},
		{"late OK", func(_ int, c net.Conn) { time.Sleep(2 * time.Second); io.WriteString(c, "OK") }, 4096, ReplyOK, "", 1, 0},
		{"closed after reading", nil, 8192, ReplyClosed, "", 1, 0},
		{"ERROR", write("ERROR"), 4096, "", "replied ERROR", 3, 0},
		{"reset: read only part", nil, 16, "", "connection reset by peer", 3, 0},
		{"silence", untilEOF, 4096, "", "i/o timeout", 3, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := serveRead(t, filepath.Join(testutil.ShortTempDir(t), "s"), tt.size, tt.reply)
			opt := autoOptions(&logRecorder{})
			if tt.timeoutMs > 0 {
				opt.Timeout = time.Duration(tt.timeoutMs) * time.Millisecond
			}
			reply, err := SendReply(t.Context(), s.path, testMessage(t), opt)
			if reply != tt.want || (tt.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("reply %q, err %v; want %q, %q", reply, err, tt.want, tt.err)
			}
			s.close()
			if n := len(s.received()); n != tt.attempts {
				t.Errorf("%d connections, want %d", n, tt.attempts)
			}
		})
	}
}

// A bot that never accepts the connection is never counted as delivered,
// in any mode: the message it never read is still in the socket's queue.
func TestSendNeverAccepted(t *testing.T) {
	for _, ack := range []Ack{AckAuto, AckOK, AckNone} {
		t.Run(string(ack), func(t *testing.T) {
			path := filepath.Join(testutil.ShortTempDir(t), "s")
			ln, err := net.Listen("unix", path) // never Accept()ed
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			opt := fast(&logRecorder{})
			opt.Ack, opt.Retries, opt.Timeout = ack, 1, 300*time.Millisecond
			reply, err := SendReply(t.Context(), path, testMessage(t), opt)
			if err == nil || reply != "" {
				t.Errorf("reply %q, err %v; want not delivered", reply, err)
			}
			if ack == AckNone && !errors.Is(err, errNotRead) {
				t.Errorf("err %v, want errNotRead", err)
			}
		})
	}
}
