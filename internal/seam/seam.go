// Package seam holds the pauses and the hook that tests shorten or set across packages.
package seam

import (
	"os"
	"time"
)

// TokenBackoff is the token client's first retry pause, for a run and a
// login alike; zero is the client's default.
var TokenBackoff time.Duration

// Reread are the pauses before reading a malformed token file again:
// schwab-py rewrites the file in place, so a run may catch it half-written.
var Reread = []time.Duration{100 * time.Millisecond, 400 * time.Millisecond}

// WriteStep, when set, is called at each step of the token file's durable
// write. Tests use it to kill the process at a chosen moment.
var WriteStep func(step string)

// Fsync is (*os.File).Sync for the durable write. Tests replace it to see
// the order of the write (write, fsync the temp file, rename, fsync the
// directory), which a crash test cannot: the page cache survives SIGKILL.
var Fsync = (*os.File).Sync

// Fast shortens TokenBackoff and Reread, so that tests can run the command
// line in process through every failure class in milliseconds. It returns
// the restore function; it must not be called while other tests run.
func Fast() (restore func()) {
	backoff, pauses := TokenBackoff, Reread
	TokenBackoff = time.Millisecond
	Reread = []time.Duration{time.Millisecond, time.Millisecond}
	return func() { TokenBackoff, Reread = backoff, pauses }
}
