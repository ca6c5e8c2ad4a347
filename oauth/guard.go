package oauth

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
)

// errNoProcNet is a machine where the kernel's socket tables cannot be
// read (no /proc, a sandbox that hides it, or not Linux).
var errNoProcNet = errors.New("/proc/net/tcp and /proc/net/tcp6 cannot be read")

// guard is the callback's listener: it hands on only the connections that
// come from a user it trusts and closes every other before a byte is read.
// The authorization URL, state included, is in the browser opener's
// arguments, which every local user can read: without the guard another
// user could end the login (error=access_denied) or have their own code
// exchanged into our token file.
type guard struct {
	net.Listener
	trusted []int // our uid and euid, root, $SUDO_UID, --trust-uid
	log     *slog.Logger
	uidOf   func(client, server netip.AddrPort) (int, error) // connUID; tests replace it

	mu      sync.Mutex
	warned  map[int]bool // uids refused, each warned about once
	blind   sync.Once    // the tables could not be read: said once
	unknown sync.Once    // a connection's uid could not be found: said once
}

func newGuard(ln net.Listener, trusted []int, log *slog.Logger) *guard {
	return &guard{Listener: ln, trusted: trusted, log: log, uidOf: connUID, warned: map[int]bool{}}
}

// Accept returns the next connection from a trusted uid.
func (g *guard) Accept() (net.Conn, error) {
	for {
		c, err := g.Listener.Accept()
		if err != nil {
			return nil, err
		}
		uid, err := g.uidOf(addrPort(c.RemoteAddr()), addrPort(c.LocalAddr()))
		switch {
		case errors.Is(err, errNoProcNet):
			g.blind.Do(func() {
				g.log.Warn("Login callback: cannot tell which user connects (" + err.Error() + "): serving every local connection")
			})
			return c, nil
		case err != nil:
			g.unknown.Do(func() {
				g.log.Warn(fmt.Sprintf("Login callback: closed a connection whose user cannot be told: %v", err))
			})
		case slices.Contains(g.trusted, uid):
			return c, nil
		default:
			g.once(uid, func() {
				g.log.Warn(fmt.Sprintf("Login callback: closed a connection from uid %d, not this user's; if it is your browser or your ssh -L, run the login again with --trust-uid %d", uid, uid))
			})
		}
		c.Close()
	}
}

// once runs warn the first time uid is refused.
func (g *guard) once(uid int, warn func()) {
	g.mu.Lock()
	seen := g.warned[uid]
	g.warned[uid] = true
	g.mu.Unlock()
	if !seen {
		warn()
	}
}

func addrPort(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort()
	}
	return netip.AddrPort{}
}
