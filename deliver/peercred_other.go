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
