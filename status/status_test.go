package status

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/refresh-token/refresh-token/deliver"
	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/seam"
	"github.com/refresh-token/refresh-token/internal/testutil"
	"github.com/refresh-token/refresh-token/store"
)

var statusNow = time.Unix(1_800_000_000, 0)

func TestCheckStatus(t *testing.T) {
	now := statusNow.Unix()
	const day = 24 * 3600
	tests := []struct {
		name     string
		expires  int64 // access token expires_at
		created  int64
		code     int
		problems []string // substrings, in order
		warnings []string
	}{
		{name: "healthy", expires: now + 1200, created: now - 2*day, code: 0},
		{name: "access token expired", expires: now - 600, created: now - 2*day, code: exit.TempFail,
			problems: []string{"access token expired 10 minutes ago: refreshes are not happening"}},
		{name: "refresh token near 7 days", expires: now + 1200, created: now - 6*day - 13*3600, code: 0,
			warnings: []string{"refresh token is 6.5 days old: Schwab expires it in about 11.0 hours"}},
		{name: "refresh token past 7 days", expires: now + 1200, created: now - 8*day, code: exit.NoPerm,
			problems: []string{"refresh token is 8.0 days old, past Schwab's 7-day limit; run 'refresh-token login' to log in to Schwab again and get a new refresh token"}},
		{name: "both expired: the refresh token explains it", expires: now - 3*day, created: now - 8*day, code: exit.NoPerm,
			problems: []string{"access token expired 3.0 days ago", "refresh token is 8.0 days old"}},
		{name: "no creation_timestamp", expires: now + 1200, code: 0,
			warnings: []string{"no creation_timestamp: the refresh token's age, and so the 7-day login deadline, is unknown"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testutil.Tokens(t, t.TempDir(), tt.expires, tt.created)
			st := Check(t.Context(), Options{TokenFile: p, Now: statusNow})
			if st.ExitCode != tt.code || st.Healthy != (tt.code == 0) {
				t.Errorf("exit %d healthy %v, want exit %d; problems %q", st.ExitCode, st.Healthy, tt.code, st.Problems)
			}
			contains(t, "problems", st.Problems, tt.problems)
			contains(t, "warnings", st.Warnings, tt.warnings)
			a := st.AccessToken
			if a == nil || a.ExpiresAtUnix != tt.expires || a.RemainingSeconds != tt.expires-now || a.IssuedAtUnix != tt.expires-1800 {
				t.Errorf("access token = %+v", a)
			}
			r := st.RefreshToken
			if tt.created == 0 {
				if diff := cmp.Diff(&Refresh{}, r); diff != "" {
					t.Errorf("refresh token (-want +got):\n%s", diff)
				}
				return
			}
			if !r.Known || *r.AgeSeconds != now-tt.created || *r.ExpiresAtUnix != tt.created+7*day || *r.RemainingSeconds != tt.created+7*day-now {
				t.Errorf("refresh token = %+v", r)
			}
		})
	}
}

// contains checks that got has exactly len(want) entries, each containing
// the matching substring.
func contains(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s = %q, want %d matching %q", what, got, len(want), want)
		return
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("%s[%d] = %q, want it to contain %q", what, i, got[i], want[i])
		}
	}
}

func TestStatusFileProblems(t *testing.T) {
	old := seam.Reread
	seam.Reread = nil // a malformed file is not read again after a pause
	t.Cleanup(func() { seam.Reread = old })

	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.json")
	st := Check(t.Context(), Options{TokenFile: missing, Now: statusNow})
	if st.ExitCode != exit.NoInput || st.TokenFile.Exists || st.AccessToken != nil || st.RefreshToken != nil {
		t.Errorf("missing: %+v", st)
	}
	contains(t, "problems", st.Problems, []string{"not found; pass --token-file"})

	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"token": {"access_token": "AT-secret"}}`), 0o600)
	st = Check(t.Context(), Options{TokenFile: bad, Now: statusNow})
	if st.ExitCode != exit.Data || !st.TokenFile.Exists || st.TokenFile.Error == nil {
		t.Errorf("malformed: %+v", st)
	}
	contains(t, "problems", st.Problems, []string{"no refresh_token"})

	// Unreadable: a directory where the file should be.
	st = Check(t.Context(), Options{TokenFile: dir, Now: statusNow})
	if st.ExitCode != exit.NoInput {
		t.Errorf("directory: exit %d, problems %q", st.ExitCode, st.Problems)
	}
}

func TestStatusWorldReadable(t *testing.T) {
	p := testutil.Tokens(t, t.TempDir(), statusNow.Unix()+1200, statusNow.Unix()-3600)
	st := Check(t.Context(), Options{TokenFile: p, Now: statusNow})
	if st.TokenFile.ReadableByOthers || len(st.Warnings) != 0 || st.TokenFile.Mode != "0600" {
		t.Errorf("0600 file: %+v, warnings %q", st.TokenFile, st.Warnings)
	}
	for _, mode := range []os.FileMode{0o640, 0o604} {
		os.Chmod(p, mode)
		st = Check(t.Context(), Options{TokenFile: p, Now: statusNow})
		if !st.TokenFile.ReadableByOthers || st.ExitCode != 0 {
			t.Errorf("mode %o: %+v exit %d", mode, st.TokenFile, st.ExitCode)
		}
		contains(t, "warnings", st.Warnings, []string{fmt.Sprintf("readable by group or others (mode %04o); run chmod 600", mode)})
	}
}

// The lock is reported held while a run holds it, and trying it neither
// takes it from the run, nor creates the lock file when there is none.
func TestStatusLock(t *testing.T) {
	p := testutil.Tokens(t, t.TempDir(), statusNow.Unix()+1200, statusNow.Unix()-3600)
	st := Check(t.Context(), Options{TokenFile: p, Now: statusNow})
	if st.Lock.State != LockFree || st.Lock.Path != p+".lock" {
		t.Errorf("no lock file: %+v", st.Lock)
	}
	if _, err := os.Stat(p + ".lock"); err == nil {
		t.Error("status created the lock file")
	}

	l, err := store.Lock(t.Context(), p, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	st = Check(t.Context(), Options{TokenFile: p, Now: statusNow})
	if st.Lock.State != LockHeld || st.ExitCode != 0 {
		t.Errorf("held: %+v, exit %d", st.Lock, st.ExitCode)
	}
	if _, err := store.Lock(t.Context(), p, 10*time.Millisecond); exit.Code(err) != exit.TempFail {
		t.Errorf("after status, the run's lock was lost: second Lock = %v", err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}

	st = Check(t.Context(), Options{TokenFile: p, Now: statusNow})
	if st.Lock.State != LockFree {
		t.Errorf("released: %+v", st.Lock)
	}
	// Status let go at once: a run gets the lock without waiting.
	l, err = store.Lock(t.Context(), p, 10*time.Millisecond)
	if err != nil {
		t.Fatalf("lock after status: %v", err)
	}
	l.Unlock()
}

func TestStatusSockets(t *testing.T) {
	p := testutil.Tokens(t, t.TempDir(), statusNow.Unix()+1200, statusNow.Unix()-3600)
	dir := testutil.ShortTempDir(t)
	good, stop := testutil.Listen(t)
	absent := filepath.Join(dir, "absent.sock")
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	regular := filepath.Join(dir, "file")
	os.WriteFile(regular, nil, 0o600)

	me := os.Geteuid()
	tests := []struct {
		name     string
		path     string
		want     Socket
		code     int
		problems []string
		warnings []string
	}{
		{"trusted", good, Socket{Exists: true, IsSocket: true, OwnerUID: &me, Accepts: true, PeerUID: &me, Trusted: true}, 0, nil, nil},
		{"absent", absent, Socket{}, 0, nil, []string{"not found: the trading bot may not be running"}},
		{"refused", stale, Socket{Exists: true, IsSocket: true, OwnerUID: &me}, 0, nil, []string{"does not accept connections"}},
		{"not a socket", regular, Socket{Exists: true, OwnerUID: &me}, exit.NoPerm, []string{"is not a socket"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := Check(t.Context(), Options{TokenFile: p, Sockets: []string{tt.path}, Timeout: time.Second, Now: statusNow})
			if len(st.Sockets) != 1 {
				t.Fatalf("sockets = %+v", st.Sockets)
			}
			got := st.Sockets[0]
			tt.want.Path, tt.want.Ack = tt.path, "auto"
			if diff := cmp.Diff(tt.want, got, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Error" }, cmp.Ignore())); diff != "" {
				t.Errorf("socket (-want +got):\n%s", diff)
			}
			if st.ExitCode != tt.code {
				t.Errorf("exit %d, want %d", st.ExitCode, tt.code)
			}
			contains(t, "problems", st.Problems, tt.problems)
			contains(t, "warnings", st.Warnings, tt.warnings)
		})
	}
	if n := stop(); n != 0 {
		t.Errorf("the bot was sent %d bytes, want none", n)
	}
}

// squatterEnv makes the test binary serve a socket as another user.
const squatterEnv = "REFRESH_STATUS_SQUATTER"

// TestSquatterProcess is not a test: it is the server that
// TestStatusUntrustedSocket runs as uid 65534.
func TestSquatterProcess(t *testing.T) {
	path := os.Getenv(squatterEnv)
	if path == "" {
		return
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

func TestStatusUntrustedSocket(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to serve a socket as another uid")
	}
	const nobody = 65534
	dir := testutil.ShortTempDir(t)
	os.Chmod(dir, 0o777)
	// The test binary sits in a directory private to root: copy it out.
	bin := testutil.CopyExecutable(t, dir)
	path := filepath.Join(dir, "s")
	cmd := exec.Command(bin, "-test.run=^TestSquatterProcess$")
	cmd.Env = append(os.Environ(), squatterEnv+"="+path, "GOCOVERDIR=")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot run a process as uid %d: %v", nobody, err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "ready\n" {
		t.Fatalf("squatter said %q", line)
	}

	p := testutil.Tokens(t, t.TempDir(), statusNow.Unix()+1200, statusNow.Unix()-3600)
	st := Check(t.Context(), Options{TokenFile: p, Sockets: []string{path}, Now: statusNow})
	s := st.Sockets[0]
	if s.Trusted || !s.Accepts || s.PeerUID == nil || *s.PeerUID != nobody || st.ExitCode != exit.NoPerm {
		t.Errorf("socket %+v, exit %d", s, st.ExitCode)
	}
	contains(t, "problems", st.Problems, []string{"served by uid 65534, which is not trusted"})

	st = Check(t.Context(), Options{TokenFile: p, Sockets: []string{path}, TrustUIDs: []int{nobody}, Now: statusNow})
	if !st.Sockets[0].Trusted || st.ExitCode != 0 {
		t.Errorf("with --trust-uid: socket %+v, exit %d", st.Sockets[0], st.ExitCode)
	}
}

// The human report aligns its values in one column.
func TestStatusTextAligned(t *testing.T) {
	p := testutil.Tokens(t, t.TempDir(), statusNow.Unix()+1200, statusNow.Unix()-3600)
	sock, _ := testutil.Listen(t)
	st := Check(context.Background(), Options{TokenFile: p, Sockets: []string{sock}, Now: statusNow})
	var b bytes.Buffer
	if err := st.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	// Labels are words separated by single spaces; two or more end them.
	value := regexp.MustCompile(`^ *[A-Za-z]+(?: [A-Za-z]+)* {2,}`)
	col := -1
	for _, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		m := value.FindString(line)
		if col == -1 {
			col = len(m)
		}
		if m == "" || len(m) != col {
			t.Errorf("value of %q starts at column %d, want %d", line, len(m), col)
		}
	}
}

// status says which outcome run counts as delivered: an OK, or with
// --ack=none a message written whole.
func TestStatusAck(t *testing.T) {
	p := testutil.Tokens(t, t.TempDir(), statusNow.Unix()+1200, statusNow.Unix()-3600)
	sock, _ := testutil.Listen(t)
	for _, tt := range []struct {
		ack  deliver.Ack
		want string
		text string
	}{
		{"", "auto", "OK, or a close once the message is read (--ack=auto)"},
		{deliver.AckAuto, "auto", "OK, or a close once the message is read (--ack=auto)"},
		{deliver.AckOK, "ok", "OK expected (--ack=ok)"},
		{deliver.AckNone, "none", "none expected (--ack=none)"},
	} {
		st := Check(t.Context(), Options{TokenFile: p, Sockets: []string{sock}, Ack: tt.ack, Timeout: time.Second, Now: statusNow})
		if got := st.Sockets[0].Ack; got != tt.want {
			t.Errorf("ack %q: sockets[0].ack = %q, want %q", tt.ack, got, tt.want)
		}
		var text strings.Builder
		if err := st.WriteText(&text); err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`\n  reply +` + regexp.QuoteMeta(tt.text)).MatchString(text.String()) {
			t.Errorf("ack %q: report lacks %q:\n%s", tt.ack, tt.text, text.String())
		}
	}
}
