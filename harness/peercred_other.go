//go:build !linux

package harness

import (
	"errors"
	"net"
)

// peerUID is only implemented where SO_PEERCRED exists; the bot runs on Linux.
func peerUID(*net.UnixConn) (int, error) {
	return -1, errors.New("peer credentials: not supported on this system")
}
