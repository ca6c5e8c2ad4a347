//go:build !linux

package deliver

import (
	"errors"
	"net"
)

// peerUID is only implemented with Linux's SO_PEERCRED; elsewhere Send
// refuses every socket rather than send a token unchecked.
func peerUID(*net.UnixConn) (int, error) {
	return -1, errors.New("SO_PEERCRED is only supported on Linux")
}

// unread cannot be told off Linux: nothing is sent there (peerUID).
func unread(*net.UnixConn) (int, error) { return 0, errors.New("SIOCOUTQ is only supported on Linux") }
