package testutil

import (
	"errors"
	"os"
	"strings"
	"time"
)

// RewriteInPlace rewrites path the way schwab-py does: truncate, then
// write data in pieces with a pause between them, no lock, no rename.
// started is closed once the file holds the first piece only; then it
// waits until hold is closed, if it is not nil: the test closes it once
// the run has read the half-written file.
func RewriteInPlace(path string, data []byte, pieces int, pause time.Duration, started chan<- struct{}, hold <-chan struct{}) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		close(started)
		return err
	}
	defer f.Close()
	size := len(data)/pieces + 1
	for i := 0; len(data) > 0; i++ {
		n := min(size, len(data))
		if _, err := f.Write(data[:n]); err != nil {
			return err
		}
		data = data[n:]
		if i == 0 {
			close(started)
		}
		if i == 0 && hold != nil {
			if err := waitHold(f, path, hold); err != nil {
				return err
			}
		}
		if len(data) > 0 {
			time.Sleep(pause)
		}
	}
	return nil
}

// errReplaced is a hold that cannot end: a run renamed its file over the
// path between its read and the writer's truncation, so the half-written
// file is no longer the one at path and no run will read it.
var errReplaced = errors.New("the half-written file was replaced by a run's rename")

// waitHold waits until hold is closed, while the file at path is still f.
func waitHold(f *os.File, path string, hold <-chan struct{}) error {
	mine, err := f.Stat()
	if err != nil {
		return err
	}
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); {
		select {
		case <-hold:
			return nil
		case <-time.After(time.Millisecond):
		}
		if now, err := os.Stat(path); err == nil && !os.SameFile(mine, now) {
			return errReplaced
		}
	}
	return errors.New("the run never read the half-written file")
}

// CloseWhen closes c once s() contains line, or after 10 s.
func CloseWhen(c chan<- struct{}, s func() string, line string) {
	defer close(c)
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if strings.Contains(s(), line) {
			return
		}
	}
}
