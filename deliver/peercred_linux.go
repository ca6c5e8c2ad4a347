package deliver

import (
	"net"

	"golang.org/x/sys/unix"
)

// peerUID returns the uid of the process that created the listening socket
// conn is connected to, as the kernel recorded it: the server cannot lie.
func peerUID(conn *net.UnixConn) (int, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return -1, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return -1, err
	}
	if credErr != nil {
		return -1, credErr
	}
	return int(cred.Uid), nil
}

// unread returns how many bytes we wrote to conn that the bot has not read
// yet: a Unix socket charges what it sends to the sender until the reader
// takes it (SIOCOUTQ). A bot that never accepted the connection leaves the
// whole message there.
func unread(conn *net.UnixConn) (int, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var ioErr error
	if err := raw.Control(func(fd uintptr) {
		n, ioErr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
	}); err != nil {
		return 0, err
	}
	return n, ioErr
}
