package harness

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/internal/testutil"
)

func TestMainUsage(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"help", []string{"--help"}, 0, "Usage: bot-sim", ""},
		{"receive help", []string{"receive", "--help"}, 0, "--no-ack", ""},
		{"schwab help", []string{"schwab", "--help"}, 0, "--url-file=PATH", ""},
		{"version", []string{"--version"}, 0, "bot-sim ", ""},
		{"unknown flag", []string{"--bogus"}, 64, "", "bot-sim: error: unknown flag --bogus"},
		{"bad socket mode", []string{"--mode", "rw"}, 64, "", `--mode "rw"`},
		{"socket mode too wide", []string{"--mode", "7777"}, 64, "", `--mode "7777"`},
		{"bad read", []string{"--read", "twice"}, 64, "", "--read"},
		{"negative count", []string{"--count", "-1"}, 64, "", "--count"},
		{"bad parse", []string{"--parse", "loose"}, 64, "", "--parse"},
		{"backlog 0", []string{"--backlog", "0"}, 64, "", "--backlog must be at least 1"},
		{"negative read timeout", []string{"--read-timeout", "-1s"}, 64, "", "--read-timeout"},
		{"receive help names the receivers", []string{"receive", "--help"}, 0, "TokenReceiver", ""},
		{"schwab needs credentials", []string{"schwab"}, 64, "", "missing flags"},
		{"schwab off loopback", schwabArgs("--addr", "0.0.0.0:0"), 64, "", "not a loopback address"},
		{"schwab on a LAN address", schwabArgs("--addr", "192.168.1.2:8080"), 64, "", "not a loopback address"},
		{"schwab unknown mode", schwabArgs("--mode", "ok,teapot"), 64, "", `unknown mode "teapot"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := Main(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstderr: %s", code, tt.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tt.stdout, stdout.String())
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, stderr.String())
			}
		})
	}
}

func schwabArgs(extra ...string) []string {
	return append([]string{"schwab", "--app-key", "K", "--app-secret", "S", "--refresh-token", "RT"}, extra...)
}

// runMain starts Main in the background and returns a function that stops
// it and returns its exit code and output.
func runMain(t *testing.T, args ...string) (stop func() (int, string, string)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr testutil.SyncBuffer
	done := make(chan int, 1)
	go func() { done <- Main(ctx, args, &stdout, &stderr) }()
	var code int
	var once bool
	stop = func() (int, string, string) {
		if !once {
			once = true
			cancel()
			select {
			case code = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Main did not return after cancel")
			}
		}
		return code, stdout.String(), stderr.String()
	}
	t.Cleanup(func() { stop() })
	return stop
}

// waitFile waits for a file that a background command writes when ready.
func waitFile(t *testing.T, path string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		data, err := os.ReadFile(path)
		if err == nil {
			return strings.TrimSpace(string(data))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not written within 5s: %v", path, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMainReceive(t *testing.T) {
	sock := socketPath(t)
	dir := t.TempDir()
	ready, record := filepath.Join(dir, "ready"), filepath.Join(dir, "rec.jsonl")
	stop := runMain(t, "--socket", sock, "--mode", "0660", "--record", record, "--ready-file", ready)
	if got := waitFile(t, ready); got != sock {
		t.Errorf("ready file holds %q, want %q", got, sock)
	}
	checkSocket(t, sock, 0o660)
	if got := mustSend(t, sock, validMsg); got != "OK" {
		t.Errorf("reply = %q, want OK", got)
	}
	code, stdout, stderr := stop()
	if code != 0 {
		t.Errorf("exit %d, want 0; stderr: %s", code, stderr)
	}
	for _, want := range []string{"bot-sim: listening on " + sock + "\n", "access_token=AT-f…", "stopped after 1 messages"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if _, err := os.Lstat(sock); err == nil {
		t.Error("socket left behind")
	}
	if data, err := os.ReadFile(record); err != nil || !strings.Contains(string(data), `"access_token":"AT-first-token"`) {
		t.Errorf("record file: %v\n%s", err, data)
	}
}

func TestMainReceiveCount(t *testing.T) {
	sock := socketPath(t)
	ready := filepath.Join(t.TempDir(), "ready")
	stop := runMain(t, "receive", "--socket", sock, "--count", "1", "--no-ack", "--ready-file", ready)
	waitFile(t, ready)
	if got := mustSend(t, sock, validMsg); got != "" {
		t.Errorf("reply = %q, want none", got)
	}
	// --count ends the command without a cancel: the socket goes away.
	deadline := time.Now().Add(5 * time.Second)
	for _, err := os.Lstat(sock); err == nil; _, err = os.Lstat(sock) {
		if time.Now().After(deadline) {
			t.Fatal("still listening after --count 1 messages")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if code, _, stderr := stop(); code != 0 {
		t.Errorf("exit %d, want 0; stderr: %s", code, stderr)
	}
}

func TestMainReceiveListenFails(t *testing.T) {
	var stdout, stderr strings.Builder
	code := Main(context.Background(), []string{"--socket", "/nonexistent-dir/bot.sock"}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "bot-sim: error: listen on /nonexistent-dir/bot.sock") {
		t.Errorf("exit %d, stderr %q; want 1 and the listen error", code, stderr.String())
	}
}

func TestMainSchwab(t *testing.T) {
	urlFile := filepath.Join(t.TempDir(), "url")
	stop := runMain(t, schwabArgs("--mode", "503", "--mode", "ok", "--url-file", urlFile)...)
	tokenURL := waitFile(t, urlFile)
	base, ok := strings.CutSuffix(tokenURL, TokenPath)
	if !ok || !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("URL %q is not a loopback token URL", tokenURL)
	}
	rq := goodRequest()
	rq.auth = basic("K", "S")
	rq.form.Set("refresh_token", "RT")
	var statuses []int
	for range 2 {
		statuses = append(statuses, mustDo(t, rq, base).status)
	}
	if statuses[0] != 503 || statuses[1] != 200 {
		t.Errorf("statuses %v, want [503 200]", statuses)
	}
	resp, err := http.Get(base + "/control/requests")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "2\n" {
		t.Errorf("control requests = %q, want 2", body)
	}
	code, stdout, stderr := stop()
	if code != 0 {
		t.Errorf("exit %d, want 0; stderr: %s", code, stderr)
	}
	if stdout != tokenURL+"\n" {
		t.Errorf("stdout = %q, want the URL line alone", stdout)
	}
	if !strings.Contains(stderr, "request 1: mode 503") {
		t.Errorf("stderr lacks the request log:\n%s", stderr)
	}
}

// A request held by the hang mode must not keep the server from shutting down.
func TestMainSchwabShutdownWithHangingRequest(t *testing.T) {
	urlFile := filepath.Join(t.TempDir(), "url")
	stop := runMain(t, schwabArgs("--mode", "hang", "--url-file", urlFile)...)
	base, _ := strings.CutSuffix(waitFile(t, urlFile), TokenPath)
	go goodRequest().do(context.Background(), base)
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	if code, _, stderr := stop(); code != 0 {
		t.Errorf("exit %d, want 0; stderr: %s", code, stderr)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("shutdown took %v", d)
	}
}

// --die-on-early-close: a client gone before the delayed reply ends bot-sim
// with status 141 and leaves the socket file, as the bot's death does.
func TestMainReceiveDieOnEarlyClose(t *testing.T) {
	sock := socketPath(t)
	ready := filepath.Join(t.TempDir(), "ready")
	var stdout, stderr testutil.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(context.Background(), []string{"receive", "--socket", sock, "--die-on-early-close", "--ack-delay", "100ms", "--ready-file", ready}, &stdout, &stderr)
	}()
	waitFile(t, ready)
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, validMsg)
	c.Close()
	select {
	case code := <-done:
		if code != 141 {
			t.Errorf("exit %d, want 141", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("bot-sim still running")
	}
	if !strings.Contains(stdout.String(), "exiting with status 141, socket left behind") || !strings.Contains(stderr.String(), "before the reply was written") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	if _, err := os.Lstat(sock); err != nil {
		t.Errorf("socket file: %v, want it left behind", err)
	}
}
