//go:build linux

package deliver

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/refresh-token/refresh-token/internal/testutil"
)

// probeOpts compares ProbeResults on everything but the error text and the
// mode's permission bits, which follow the umask.
var probeOpts = cmp.Options{
	cmpopts.IgnoreFields(ProbeResult{}, "Err", "Mode"),
}

func TestProbeListening(t *testing.T) {
	s := serve(t, nil)
	got := Probe(t.Context(), s.path, nil, time.Second)
	want := ProbeResult{Path: s.path, Exists: true, IsSocket: true, OwnerUID: os.Geteuid(),
		Accepts: true, PeerUID: os.Geteuid(), Trusted: true} // not Connected: found in the tables
	if diff := cmp.Diff(want, got, probeOpts); diff != "" {
		t.Errorf("Probe (-want +got):\n%s", diff)
	}
	if got.Err != nil || got.Mode.Type() != fs.ModeSocket {
		t.Errorf("Err = %v, Mode = %v; want nil and a socket", got.Err, got.Mode)
	}
	s.close()
	// The listener was found in the kernel's tables: the server saw no
	// connection at all.
	if r := s.received(); len(r) != 0 {
		t.Errorf("server received %q, want no connection", r)
	}
}

// Where the tables cannot tell (here: hidden), Probe connects: the server
// sees a connection and not a single byte.
func TestProbeConnectsWhenTablesCannotTell(t *testing.T) {
	hideTables(t)
	s := serve(t, nil)
	got := Probe(t.Context(), s.path, nil, time.Second)
	if !got.Accepts || !got.Connected || got.PeerUID != os.Geteuid() || !got.Trusted || got.Err != nil {
		t.Fatalf("Probe = %+v", got)
	}
	// The probe may be gone before the server's Accept returns: wait for
	// the server to have read the connection before stopping it.
	for end := time.Now().Add(5 * time.Second); len(s.received()) == 0 && time.Now().Before(end); {
		time.Sleep(time.Millisecond)
	}
	s.close()
	if r := s.received(); len(r) != 1 || len(r[0]) != 0 {
		t.Errorf("server received %q, want one empty read", r)
	}
}

// hideTables makes the kernel's table of Unix sockets unreadable for the
// test.
func hideTables(t *testing.T) {
	old := procNetUnix
	procNetUnix = filepath.Join(t.TempDir(), "none")
	t.Cleanup(func() { procNetUnix = old })
}

func TestProbeAbsent(t *testing.T) {
	path := filepath.Join(testutil.ShortTempDir(t), "s")
	got := Probe(t.Context(), path, nil, time.Second)
	want := ProbeResult{Path: path, OwnerUID: -1, PeerUID: -1}
	if diff := cmp.Diff(want, got, probeOpts); diff != "" {
		t.Errorf("Probe (-want +got):\n%s", diff)
	}
	if !errors.Is(got.Err, ErrNotRunning) {
		t.Errorf("Err = %v, want ErrNotRunning", got.Err)
	}
}

func TestProbeRefused(t *testing.T) {
	path := staleSocket(t)
	got := Probe(t.Context(), path, nil, time.Second)
	want := ProbeResult{Path: path, Exists: true, IsSocket: true, OwnerUID: os.Geteuid(), PeerUID: -1}
	if diff := cmp.Diff(want, got, probeOpts); diff != "" {
		t.Errorf("Probe (-want +got):\n%s", diff)
	}
	if got.Err == nil {
		t.Error("Err = nil, want connection refused")
	}
}

func TestProbeNotSocket(t *testing.T) {
	path := filepath.Join(testutil.ShortTempDir(t), "s")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	got := Probe(t.Context(), path, nil, time.Second)
	want := ProbeResult{Path: path, Exists: true, OwnerUID: os.Geteuid(), PeerUID: -1}
	if diff := cmp.Diff(want, got, probeOpts); diff != "" {
		t.Errorf("Probe (-want +got):\n%s", diff)
	}
	var ne *NotSocketError
	if !errors.As(got.Err, &ne) {
		t.Errorf("Err = %v, want *NotSocketError", got.Err)
	}
}

// A squatter's socket is reported untrusted and gets nothing; trusting its
// uid makes it trusted, as it would for Send.
func TestProbeUntrusted(t *testing.T) {
	sq := startSquatter(t)
	got := Probe(t.Context(), sq.path, nil, time.Second)
	want := ProbeResult{Path: sq.path, Exists: true, IsSocket: true, OwnerUID: nobody,
		Accepts: true, PeerUID: nobody} // from the tables: as root we see nobody's fds
	if diff := cmp.Diff(want, got, probeOpts); diff != "" {
		t.Errorf("Probe (-want +got):\n%s", diff)
	}
	var ue *UntrustedError
	if !errors.As(got.Err, &ue) || ue.UID != nobody {
		t.Errorf("Err = %v, want *UntrustedError for uid %d", got.Err, nobody)
	}
	// The same through a connection, where the tables cannot tell.
	hideTables(t)
	if got := Probe(t.Context(), sq.path, nil, time.Second); got.PeerUID != nobody || got.Trusted {
		t.Errorf("connected: %+v, want uid %d untrusted", got, nobody)
	}
	if line := sq.next(t); line != "read 0" {
		t.Errorf("squatter: %q, want %q", line, "read 0")
	}

	got = Probe(t.Context(), sq.path, []int{nobody}, time.Second)
	if !got.Trusted || got.Err != nil {
		t.Errorf("with --trust-uid %d: Trusted = %v, Err = %v; want true, nil", nobody, got.Trusted, got.Err)
	}
	if line := sq.next(t); line != "read 0" {
		t.Errorf("squatter: %q, want %q", line, "read 0")
	}
}

// Only a listening socket's row counts: the rows of its accepted
// connections carry the same path without the accept flag.
func TestListeningInode(t *testing.T) {
	table := `Num       RefCount Protocol Flags    Type St Inode Path
0000000000000000: 00000003 00000000 00000000 0001 03 111 /run/bot.sock
0000000000000000: 00000002 00000000 00010000 0001 01 222 /run/bot.sock
0000000000000000: 00000002 00000000 00010000 0001 01 333 /run/other.sock
0000000000000000: 00000002 00000000 00010000 0001 01 444
`
	p := filepath.Join(t.TempDir(), "unix")
	os.WriteFile(p, []byte(table), 0o600)
	old := procNetUnix
	procNetUnix = p
	defer func() { procNetUnix = old }()
	for path, want := range map[string]string{"/run/bot.sock": "222", "/run/other.sock": "333", "/run/none.sock": ""} {
		if got := listeningInode(path); got != want {
			t.Errorf("listeningInode(%s) = %q, want %q", path, got, want)
		}
	}
}

// A listening socket held by processes of two uids (a server that forked
// into another user) cannot be told apart: Probe connects, and the server's
// SO_PEERCRED decides.
func TestProbeTwoHolders(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to hand the listener to uid 65534")
	}
	path := filepath.Join(testutil.ShortTempDir(t), "s")
	ln, err := net.Listen("unix", path) // never Accept()ed: connect and SO_PEERCRED need no accept
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.UnixListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	holder := exec.Command("sleep", "30")
	holder.ExtraFiles = []*os.File{f}
	holder.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	if err := holder.Start(); err != nil {
		t.Skipf("cannot start a process as uid %d: %v", nobody, err)
	}
	defer func() { holder.Process.Kill(); holder.Wait() }()
	if uid, ok := listenerUID(path); ok {
		t.Fatalf("listenerUID = %d, true; want false for two holders", uid)
	}
	got := Probe(t.Context(), path, nil, time.Second)
	if !got.Connected || got.PeerUID != os.Geteuid() || !got.Trusted {
		t.Errorf("Probe = %+v, want a connection that finds our uid", got)
	}
}
