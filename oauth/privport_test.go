package oauth

import (
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/testutil"
)

const privPortEnv = "RTTEST_PRIVPORT"

// A callback URL without a port means 443; without privileges the bind is
// refused: exit 77, saying so and pointing to --manual. As root the test
// runs itself as nobody to see the refusal.
func TestCallbackPrivilegedPort(t *testing.T) {
	if data, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); err == nil && strings.TrimSpace(string(data)) != "1024" {
		t.Skipf("ports from %s are unprivileged here", strings.TrimSpace(string(data)))
	}
	if os.Geteuid() != 0 {
		cb, _ := CheckCallbackURL("https://127.0.0.1")
		srv, err := ListenCallback(cb, "st", nil, slog.New(slog.DiscardHandler))
		if err == nil {
			srv.Close()
			t.Fatal("port 443 bound without privileges")
		}
		if exit.Code(err) != exit.NoPerm || !strings.Contains(err.Error(), "binding the callback port 443 on 127.0.0.1 was refused: ports below 1024 need privileges") ||
			!strings.Contains(exit.Hint(err), "--manual") {
			t.Fatalf("err = %v (exit %d, hint %q)", err, exit.Code(err), exit.Hint(err))
		}
		return
	}
	if os.Getenv(privPortEnv) != "" {
		t.Fatal("still root in the child")
	}
	const nobody = 65534
	dir := testutil.ShortTempDir(t)
	os.Chmod(dir, 0o755)
	bin := testutil.CopyExecutable(t, dir) // the build directory is private to root
	cmd := exec.Command(bin, "-test.run=^TestCallbackPrivilegedPort$", "-test.v")
	cmd.Env = append(os.Environ(), privPortEnv+"=1", "GOCOVERDIR=")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("as uid %d: %v\n%s", nobody, err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestCallbackPrivilegedPort") {
		t.Fatalf("the child did not run the check:\n%s", out)
	}
}
