//go:build linux

package deliver

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// procNetUnix is the kernel's table of Unix sockets; a variable for tests.
var procNetUnix = "/proc/net/unix"

// listenerUID returns the uid of the process that listens on the socket at
// path, found without connecting to it: the listening socket's row in the
// kernel's table (by the path it was bound to, and the flag of a socket
// that accepts), then the processes that hold it open (/proc/PID/fd). ok
// is false when that cannot be told: the path was bound relative, the
// holders are another user's and hidden from us, or they run as several
// uids. Probe then connects, as Send would.
func listenerUID(path string) (uid int, ok bool) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return -1, false
	}
	inode := listeningInode(abs)
	if inode == "" {
		return -1, false
	}
	target := "socket:[" + inode + "]"
	pids, _ := filepath.Glob("/proc/[0-9]*")
	uid = -1
	for _, p := range pids {
		fds, err := os.ReadDir(filepath.Join(p, "fd"))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if l, err := os.Readlink(filepath.Join(p, "fd", fd.Name())); err != nil || l != target {
				continue
			}
			fi, err := os.Stat(p) // /proc/PID belongs to the process's uid
			if err != nil {
				return -1, false
			}
			u := int(fi.Sys().(*syscall.Stat_t).Uid)
			if uid >= 0 && u != uid {
				return -1, false
			}
			uid = u
			break
		}
	}
	return uid, uid >= 0
}

// listeningInode returns the inode of the listening socket bound to path,
// "" when there is none in the table.
func listeningInode(path string) string {
	f, err := os.Open(procNetUnix)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		// Num RefCount Protocol Flags Type St Inode Path
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 || fields[7] != path {
			continue
		}
		flags, err := strconv.ParseUint(fields[3], 16, 32)
		if err == nil && flags&acceptCon != 0 {
			return fields[6]
		}
	}
	return ""
}

// acceptCon is __SO_ACCEPTCON in the Flags column: a listening socket.
const acceptCon = 1 << 16
