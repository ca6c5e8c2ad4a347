package cli

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/harness"
	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/fixture"
	"github.com/refresh-token/refresh-token/store"
)

// The same promises as TestWriteFileFsyncOrder and the lock's poll
// interval, seen from the kernel: a real run of refresh-token under strace.
// Skipped where strace is missing or cannot trace (no ptrace).

// straced runs refresh-token, the rig's files and args, under strace
// tracing the syscalls named, and returns the trace: one "name(args"
// string per syscall, in the order they started.
func straced(t *testing.T, r *fixture.Rig, syscalls string, args ...string) (int, []string) {
	t.Helper()
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("strace not installed")
	}
	if out, err := exec.Command(strace, "-o", os.DevNull, "true").CombinedOutput(); err != nil {
		t.Skipf("strace cannot trace here: %v %s", err, out)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	trace := filepath.Join(t.TempDir(), "trace")
	base := []string{"-f", "-qq", "-e", "trace=" + syscalls, "-o", trace, exe,
		"--log-file=", "--token-file", r.Tokens, "--socket", r.Sock, "--retries", "1",
		"run", "--app-config", r.App, "--token-url", r.URL}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, strace, append(base, args...)...)
	cmd.Env = append(fixture.ChildEnviron(), fixture.ChildEnv+"=1", "GORACE=atexit_sleep_ms=0")
	out, _ := cmd.CombinedOutput()
	t.Logf("refresh-token %q:\n%s", args, out)
	f, err := os.Open(trace)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// "1234  fsync(7) = 0", or "1234  write(7, ... <unfinished ...>" when
	// another thread interleaves; "<... write resumed>" lines end them.
	start := regexp.MustCompile(`^\d+\s+([a-z0-9_]+\(.*?)(?:\s+<unfinished \.\.\.>)?$`)
	var calls []string
	s := bufio.NewScanner(f)
	s.Buffer(nil, 1<<20)
	for s.Scan() {
		if m := start.FindStringSubmatch(s.Text()); m != nil {
			calls = append(calls, m[1])
		}
	}
	return cmd.ProcessState.ExitCode(), calls
}

// index returns the position of the first call at or after from that
// matches re, or -1.
func index(calls []string, from int, re string) int {
	rx := regexp.MustCompile(re)
	for i := max(from, 0); i < len(calls); i++ {
		if rx.MatchString(calls[i]) {
			return i
		}
	}
	return -1
}

// The kernel sees the durable write in order: the temp file opened,
// written, fsynced, renamed over the token file, then the directory opened
// and fsynced.
func TestStraceFsyncOrder(t *testing.T) {
	r := fixture.NewRig(t, harness.SchwabConfig{ExpiresIn: 1800})
	code, calls := straced(t, r, "openat,write,fsync,fdatasync,rename,renameat,renameat2,close", "--force")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	q := regexp.QuoteMeta
	tmp := index(calls, 0, `^openat\(AT_FDCWD, "`+q(r.Tokens+store.TempMark)+`\d+", O_RDWR\|O_CREAT\|O_EXCL`)
	if tmp < 0 {
		t.Fatalf("no temp file opened:\n%s", strings.Join(calls, "\n"))
	}
	fd := regexp.MustCompile(`= (\d+)$`).FindStringSubmatch(calls[tmp])
	if fd == nil {
		t.Fatalf("no descriptor in %q", calls[tmp])
	}
	steps := []struct{ what, re string }{
		{"write the temp file", `^write\(` + fd[1] + `, "\{`},
		{"fsync the temp file", `^fsync\(` + fd[1] + `\)`},
		{"close the temp file", `^close\(` + fd[1] + `\)`},
		{"rename it over the token file", `^rename(at2?)?\((AT_FDCWD, )?"` + q(r.Tokens+store.TempMark) + `\d+", (AT_FDCWD, )?"` + q(r.Tokens) + `"`},
		{"open the directory", `^openat\(AT_FDCWD, "` + q(r.Dir) + `/?", O_RDONLY`},
	}
	at := tmp
	for _, st := range steps {
		i := index(calls, at+1, st.re)
		if i < 0 {
			t.Fatalf("%s: no %s after %q:\n%s", st.what, st.re, calls[at], strings.Join(calls[tmp:], "\n"))
		}
		at = i
	}
	dirFD := regexp.MustCompile(`= (\d+)$`).FindStringSubmatch(calls[at])
	if dirFD == nil || index(calls, at+1, `^fsync\(`+dirFD[1]+`\)`) < 0 {
		t.Errorf("the directory is not fsynced after the rename:\n%s", strings.Join(calls[at:], "\n"))
	}
}

// While another run holds the lock, a run polls it every 50 ms until
// --lock-timeout: a handful of tries in 500 ms, never a busy loop. Only an
// upper bound is checked: a slow machine makes fewer tries, never more.
func TestStraceLockPoll(t *testing.T) {
	r := fixture.NewRig(t, harness.SchwabConfig{ExpiresIn: 1800})
	held, err := store.Lock(context.Background(), r.Tokens, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Unlock()
	code, calls := straced(t, r, "flock", "--lock-timeout", "500ms")
	if code != exit.TempFail {
		t.Fatalf("exit %d, want 75 (busy)", code)
	}
	tries := 0
	for _, c := range calls {
		if strings.Contains(c, "LOCK_EX|LOCK_NB") {
			tries++
		}
	}
	t.Logf("%d tries of the lock in 500 ms", tries)
	if tries < 1 || tries > 500/50+2 {
		t.Errorf("%d tries of the lock in 500 ms, want 1 to 12 (every 50 ms)", tries)
	}
}
