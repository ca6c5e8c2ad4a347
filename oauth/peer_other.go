//go:build !linux

package oauth

import "net/netip"

// connUID cannot tell a connection's uid off Linux: the callback falls
// back to serving every local connection, and says so once.
func connUID(client, server netip.AddrPort) (int, error) { return -1, errNoProcNet }
