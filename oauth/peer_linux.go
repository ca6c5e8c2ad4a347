//go:build linux

package oauth

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// procNetTCP are the kernel's tables of TCP sockets, IPv4 and IPv6; a
// variable for tests.
var procNetTCP = []string{"/proc/net/tcp", "/proc/net/tcp6"}

// connUID returns the uid that owns the client's socket of a loopback TCP
// connection: the row of /proc/net/tcp or tcp6 whose local address is the
// client's and whose remote address is ours, as the kernel lists it (the
// socket's owner, the uid of the process that made it).
func connUID(client, server netip.AddrPort) (int, error) {
	read := false
	for _, path := range procNetTCP {
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		read = true
		uid, err := findUID(bufio.NewScanner(f), client, server)
		f.Close()
		if err == nil {
			return uid, nil
		}
	}
	if !read {
		return -1, errNoProcNet
	}
	return -1, fmt.Errorf("no socket from %s to %s in the kernel's tables", client, server)
}

// findUID scans one table for the client's socket.
func findUID(sc *bufio.Scanner, client, server netip.AddrPort) (int, error) {
	sc.Scan() // the header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 {
			continue
		}
		local, err1 := parseProcAddr(f[1])
		remote, err2 := parseProcAddr(f[2])
		if err1 != nil || err2 != nil || !sameAddr(local, client) || !sameAddr(remote, server) {
			continue
		}
		uid, err := strconv.Atoi(f[7])
		if err != nil {
			return -1, fmt.Errorf("uid %q: %w", f[7], err)
		}
		return uid, nil
	}
	return -1, errors.New("not found")
}

// sameAddr compares two address-port pairs, an IPv4-mapped IPv6 address
// equal to its IPv4 address.
func sameAddr(a, b netip.AddrPort) bool {
	return a.Port() == b.Port() && a.Addr().Unmap() == b.Addr().Unmap()
}

// parseProcAddr reads "0100007F:1F90": the address as the kernel's 32-bit
// words in host (little-endian) order, then the port in hex.
func parseProcAddr(s string) (netip.AddrPort, error) {
	h, p, ok := strings.Cut(s, ":")
	port, err := strconv.ParseUint(p, 16, 16)
	if !ok || err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q", s)
	}
	raw, err := hex.DecodeString(h)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("address %q", s)
	}
	for i := 0; i < len(raw); i += 4 { // each word little-endian
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	addr, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(addr, uint16(port)), nil
}
