package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/internal/leakcheck"
	"github.com/refresh-token/refresh-token/internal/testutil"
)

// The test binary doubles as bot-sim, so these tests cover the real main:
// exit codes and shutdown on signals.
func TestMain(m *testing.M) {
	if os.Getenv("BOT_SIM_AS_MAIN") == "1" {
		main()
	}
	os.Exit(leakcheck.Main(m))
}

func botSim(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "BOT_SIM_AS_MAIN=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	return cmd, &out
}

func waitFile(t *testing.T, path string) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if data, err := os.ReadFile(path); err == nil {
			return strings.TrimSpace(string(data))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not written", path)
		}
	}
}

func waitExit(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("bot-sim did not exit")
		return -1
	}
}

func TestUsageErrorExits64(t *testing.T) {
	cmd, out := botSim(t, "--no-such-flag")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, cmd); code != 64 {
		t.Errorf("exit %d, want 64\n%s", code, out)
	}
}

func TestReceiveStopsOnSIGTERM(t *testing.T) {
	dir := testutil.ShortTempDir(t)
	sock, ready := filepath.Join(dir, "bot.sock"), filepath.Join(dir, "ready")
	cmd, out := botSim(t, "--socket", sock, "--ready-file", ready)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFile(t, ready)
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte(`{"access_token":"AT-1234567","refresh_token":"RT-1234567","expires_at":1}`))
	reply, _ := io.ReadAll(c)
	c.Close()
	if string(reply) != "OK" {
		t.Errorf("reply %q, want OK", reply)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if code := waitExit(t, cmd); code != 0 {
		t.Errorf("exit %d, want 0\n%s", code, out)
	}
	if _, err := os.Lstat(sock); err == nil {
		t.Error("socket left behind")
	}
	if !strings.Contains(out.String(), "bot-sim: listening on "+sock) {
		t.Errorf("output lacks the listening line:\n%s", out)
	}
}

func TestSchwabStopsOnSIGINT(t *testing.T) {
	urlFile := filepath.Join(testutil.ShortTempDir(t), "url")
	cmd, out := botSim(t, "schwab", "--app-key", "K", "--app-secret", "S", "--refresh-token", "RT", "--url-file", urlFile)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	url := waitFile(t, urlFile)
	if !strings.HasPrefix(url, "http://127.0.0.1:") || !strings.HasSuffix(url, "/v1/oauth/token") {
		t.Errorf("URL %q", url)
	}
	cmd.Process.Signal(os.Interrupt)
	if code := waitExit(t, cmd); code != 0 {
		t.Errorf("exit %d, want 0\n%s", code, out)
	}
	if !strings.HasPrefix(out.String(), url+"\n") {
		t.Errorf("output does not start with the URL line:\n%s", out)
	}
}
