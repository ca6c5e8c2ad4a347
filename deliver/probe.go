package deliver

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"slices"
	"syscall"
	"time"
)

// ProbeResult describes a bot socket as Probe found it.
type ProbeResult struct {
	Path     string
	Exists   bool        // something is at Path
	IsSocket bool        // and it is a socket
	Mode     fs.FileMode // of what is at Path, symlinks followed
	OwnerUID int         // owner of the socket file; -1 when unknown
	Accepts  bool        // a process listens there (seen in the kernel's tables, or a connection was accepted)
	PeerUID  int         // the listening process's uid (its /proc entry, or SO_PEERCRED); -1 when unknown
	Trusted  bool        // PeerUID is root, ours or trusted, as Send requires
	// Connected says Probe had to connect to learn PeerUID: the kernel's
	// tables could not tell, and the bot saw an empty connection.
	Connected bool
	Err       error // why the probe stopped short, nil when it connected
}

// Probe checks the socket at path the way Send would, up to the point where
// Send writes. It stats the path, then finds the process that listens on it
// in the kernel's tables (/proc/net/unix and /proc/PID/fd) without
// connecting: the bot sees nothing. Where that cannot be told (another
// user's bot hidden from us, a socket bound by a relative path, not Linux)
// it connects within timeout, reads the server's SO_PEERCRED and closes the
// connection without sending a byte. The bot's
// JSON receiver sees a client that closed without data and, as it does for
// any empty read, closes its end without a reply; its TokenReceiver's
// single recv returns 0 the same way. Probe says nothing of --ack: whether
// a delivery will be acknowledged shows only when one is made.
//
// Trusted is decided on PeerUID only, the same rule as Send: root,
// os.Geteuid() or one of trustUIDs. A socket that refuses the connection is
// not trusted, since who would answer is unknown; OwnerUID then tells who
// created it.
func Probe(ctx context.Context, path string, trustUIDs []int, timeout time.Duration) ProbeResult {
	r := ProbeResult{Path: path, OwnerUID: -1, PeerUID: -1}
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			err = ErrNotRunning
		}
		r.Err = bare(err)
		return r
	}
	r.Exists = true
	r.Mode = fi.Mode()
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		r.OwnerUID = int(st.Uid)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		r.Err = &NotSocketError{Path: path, Mode: fi.Mode()}
		return r
	}
	r.IsSocket = true

	// The bot's TokenReceiver logs two warnings for a connection that
	// closes without data: where the listener's owner can be told from
	// the kernel's tables, no connection is made at all.
	if uid, ok := listenerUID(path); ok {
		r.Accepts, r.PeerUID, r.Trusted = true, uid, trusted(uid, trustUIDs)
		if !r.Trusted {
			r.Err = &UntrustedError{Path: path, UID: uid}
		}
		return r
	}

	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		r.Err = bare(err)
		return r
	}
	defer c.Close()
	r.Connected = true
	r.Accepts = true
	uid, err := peerUID(c.(*net.UnixConn))
	if err != nil {
		r.Err = err
		return r
	}
	r.PeerUID = uid
	r.Trusted = trusted(uid, trustUIDs)
	if !r.Trusted {
		r.Err = &UntrustedError{Path: path, UID: uid}
	}
	return r
}

// trusted says whether a server running as uid may receive the token: root,
// our effective uid, or a uid the operator trusts.
func trusted(uid int, trustUIDs []int) bool {
	return uid == 0 || uid == os.Geteuid() || slices.Contains(trustUIDs, uid)
}
