package refresh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gofrs/flock"
)

// tempMark names the temp files of an atomic write, so that the next run
// recognises and removes what a killed run left behind.
const tempMark = ".refresh-token-tmp-"

// maxTokenFile bounds the token file: schwab-py's is under 4 KB, so a file
// over 1 MiB is something else, and is refused before it is read whole.
const maxTokenFile = 1 << 20

// rereadPauses are the pauses before reading a malformed token file again:
// schwab-py rewrites the file in place, so we may catch it half-written.
var rereadPauses = []time.Duration{100 * time.Millisecond, 400 * time.Millisecond}

// writeStep, when set, is called at each step of WriteFile. Tests use it to
// kill the process at a chosen moment.
var writeStep func(step string)

// fsync is (*os.File).Sync. Tests replace it to see the order of the
// durable write (write, fsync the temp file, rename, fsync the directory),
// which a crash test cannot: the page cache survives SIGKILL.
var fsync = (*os.File).Sync

func step(name string) {
	if writeStep != nil {
		writeStep(name)
	}
}

// ReadTokenFile reads and parses the token file at path. A file that does
// not parse is read again after a short pause before it counts as malformed.
func ReadTokenFile(path string, log *slog.Logger) (*TokenFile, error) {
	for i := 0; ; i++ {
		data, err := readFile(path, maxTokenFile)
		if errors.Is(err, errTooLarge) {
			return nil, fail(ExitData, "point --token-file at the schwab-py token file (a few KB) or run the OAuth login flow again",
				"%s: token file: over 1 MiB, not a schwab-py token file", path)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fail(ExitNoInput, "pass --token-file, or run the OAuth login flow to create it",
				"token file %s not found", path)
		}
		if err != nil {
			return nil, fail(ExitNoInput, "check the file's owner and mode against the service's User=",
				"read token file: %w", err)
		}
		f, err := ParseTokenFile(data)
		if err == nil || i == len(rereadPauses) {
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			return f, nil
		}
		log.Debug(fmt.Sprintf("Token file did not parse (%v); reading it again in case a writer was mid-write", err))
		time.Sleep(rereadPauses[i])
	}
}

var errTooLarge = errors.New("file too large")

// readFile reads path, refusing it with errTooLarge past limit bytes.
func readFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, errTooLarge
	}
	return data, nil
}

// WriteFile replaces path with data atomically and durably: a temp file in
// the same directory, written and fsynced, given the old file's mode and
// owner (0600 for a new file), renamed over the old one, then the directory
// fsynced. On failure the temp file is removed and the old file is untouched.
// A symlink at path is written through: its target is replaced, the link kept.
func WriteFile(path string, data []byte) (err error) {
	target, err := resolve(path)
	if err != nil {
		return err
	}
	dir, base := filepath.Split(target)
	if dir == "" {
		dir = "."
	}
	mode := fs.FileMode(0o600)
	uid, gid := -1, -1
	if st, err := os.Stat(target); err == nil {
		mode = st.Mode().Perm()
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(sys.Uid), int(sys.Gid)
		}
	}

	step("before-write")
	tmp, err := os.CreateTemp(dir, base+tempMark+"*")
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err = tmp.Chmod(mode); err != nil {
		return fmt.Errorf("chmod %s: %w", tmp.Name(), err)
	}
	if uid >= 0 && (uid != os.Geteuid() || gid != os.Getegid()) {
		// Keep the owner that other readers (the dashboard) rely on. Only
		// root may give a file away; anyone may keep their own group.
		if err = tmp.Chown(uid, gid); err != nil {
			return fmt.Errorf("keep owner %d:%d: %w", uid, gid, err)
		}
	}
	if err = fsync(tmp); err != nil {
		return fmt.Errorf("fsync %s: %w", tmp.Name(), err)
	}
	step("after-fsync")
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	step("before-rename")
	if err = os.Rename(tmp.Name(), target); err != nil {
		return fmt.Errorf("rename over %s: %w", target, err)
	}
	step("after-rename")
	// The rename is durable only once the directory is on disk; the data is
	// already in place, so a failure here is reported but not undone.
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// resolve follows symlinks at path to the file to replace. A missing file
// is its own target.
func resolve(path string) (string, error) {
	target, err := filepath.EvalSymlinks(path)
	if errors.Is(err, fs.ErrNotExist) {
		if _, lerr := os.Lstat(path); lerr == nil {
			return "", fmt.Errorf("%s is a dangling symlink", path)
		}
		return path, nil
	}
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", path, err)
	}
	return target, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return fsync(d)
}

// removeTemps removes the temp files that a killed run left beside path.
// It runs under the lock, when no other refresh-token run is writing.
func removeTemps(path string, log *slog.Logger) {
	target, err := resolve(path)
	if err != nil {
		return
	}
	dir, base := filepath.Split(target)
	matches, _ := filepath.Glob(filepath.Join(dir, globEscape(base)+tempMark+"*"))
	for _, m := range matches {
		if err := os.Remove(m); err == nil {
			log.Info("Removed temp file left by an interrupted run", "file", m)
		}
	}
}

func globEscape(s string) string {
	r := strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`)
	return r.Replace(s)
}

// Lock takes the exclusive lock beside the token file, <path>.lock (0600,
// never deleted: deleting a lock file races with its next user), waiting up
// to timeout.
func Lock(ctx context.Context, path string, timeout time.Duration) (*flock.Flock, error) {
	l := flock.New(path+".lock", flock.SetPermissions(0o600))
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ok, err := l.TryLockContext(ctx, 50*time.Millisecond)
	if ok {
		return l, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fail(ExitNoInput, "pass --token-file with the schwab-py token file",
			"token file directory %s not found", filepath.Dir(path))
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return nil, fail(ExitCantCreate, "check that the token file's directory is writable by this user",
			"lock %s: %w", l.Path(), err)
	}
	return nil, fail(ExitTempFail, "another refresh-token run holds the lock; this is safe, the next run will proceed",
		"busy: another refresh-token run holds the lock %s (waited %s)", l.Path(), timeout)
}
