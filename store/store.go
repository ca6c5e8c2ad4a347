package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/seam"
	"golang.org/x/sys/unix"
)

// TempMark names the temp files of an atomic write, so that the next run
// recognises and removes what a killed run left behind.
const TempMark = ".refresh-token-tmp-"

// MaxTokenFile bounds the token file: schwab-py's is under 4 KB, so a file
// over 1 MiB is something else, and is refused before it is read whole.
const MaxTokenFile = 1 << 20

// step calls seam.WriteStep, the hook at each step of the durable write.
func step(name string) {
	if seam.WriteStep != nil {
		seam.WriteStep(name)
	}
}

// ReadTokenFile reads and parses the token file at path. A file that does
// not parse is read again after a short pause (seam.Reread) before it
// counts as malformed; the pauses end when ctx does.
func ReadTokenFile(ctx context.Context, path string, log *slog.Logger) (*TokenFile, error) {
	rereadPauses := seam.Reread
	for i := 0; ; i++ {
		data, err := readFile(path, MaxTokenFile)
		switch {
		case errors.Is(err, errTooLarge):
			return nil, exit.Fail(exit.Data, "point --token-file at the schwab-py token file (a few KB) or run 'refresh-token login' to write a new one",
				"%s: token file: over 1 MiB, not a schwab-py token file", path)
		case errors.Is(err, fs.ErrNotExist):
			return nil, exit.Fail(exit.NoInput, "pass --token-file, or run 'refresh-token login' to create it",
				"token file %s not found", path)
		case errors.Is(err, ErrNotRegular):
			return nil, exit.Fail(exit.NoInput, "point --token-file at the schwab-py token file, a regular file",
				"read token file: %w", err)
		case err != nil:
			return nil, exit.Fail(exit.NoInput, "check the file's owner and mode against the service's User=",
				"read token file: %w", err)
		}
		f, err := ParseTokenFile(data)
		// A database does not become JSON by waiting: no second read.
		if err == nil || i == len(rereadPauses) || bytes.HasPrefix(data, sqliteMagic) {
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			return f, nil
		}
		log.Debug(fmt.Sprintf("Token file did not parse (%v); reading it again in case a writer was mid-write", err))
		t := time.NewTimer(rereadPauses[i])
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, exit.Fail(exit.TempFail, "", "interrupted while waiting to read %s again: %w", path, err)
		}
	}
}

// ErrTooBig is a token file that a run would not read back.
var ErrTooBig = errors.New("over the 1 MiB that a run reads back")

// ErrTooDeep is a token file nested deeper than a run reads back: only an
// answer of the token endpoint can make one (a file read was checked).
var ErrTooDeep = fmt.Errorf("nested more than the %d levels that a run reads back", maxDepth)

// readable returns nil when ParseTokenFile would take data's size and
// depth, else ErrTooBig or ErrTooDeep. Every write checks it, so that what
// a run or a login writes, the next run reads: a file it refused would stop
// the timer's loop.
func readable(data []byte) error {
	if len(data) > MaxTokenFile {
		return fmt.Errorf("%d bytes: %w", len(data), ErrTooBig)
	}
	if i := checkDepth(data); i >= 0 {
		return fmt.Errorf("at byte %d: %w", i+1, ErrTooDeep)
	}
	return nil
}

// Peek reads and parses the token file at path once, without the lock and
// without the pauses of ReadTokenFile, within the same size cap.
func Peek(path string) (*TokenFile, error) {
	data, err := readFile(path, MaxTokenFile)
	if err != nil {
		return nil, err
	}
	return ParseTokenFile(data)
}

// encode returns f as a run writes it: 4-space indented, as the
// bot's original Python sender writes it, or compact, as schwab-py 1.5.1
// writes it, when indenting would take it past the 1 MiB that a run reads
// back (deeply nested unknown fields are re-indented at every level).
func (f *TokenFile) encode() []byte {
	if data := f.Marshal(); len(data) <= MaxTokenFile {
		return data
	}
	var tok, buf bytes.Buffer
	f.tok.appendCompact(&tok)
	f.top.set("token", tok.Bytes())
	f.top.appendCompact(&buf)
	return buf.Bytes()
}

// WriteNewTokenFile is WriteTokenFile for a login, which did not read the
// file it replaces: the old file's mode and owner are kept only when it is
// ours or root's. Another user's file (planted where the token file
// belongs, maybe 0666) is replaced by a new 0600 file of ours; foreign is
// its owner then, -1 otherwise.
func WriteNewTokenFile(path string, f *TokenFile) (foreign int, err error) {
	foreign = -1
	if fi, err := os.Stat(path); err == nil {
		if uid, ok := owner(fi); ok && !trustedOwner(uid) {
			foreign = uid
		}
	}
	data := f.encode()
	if err := readable(data); err != nil {
		return foreign, fmt.Errorf("refusing to write %s: %w", path, err)
	}
	return foreign, replaceFile(path, data, replaceOptions{mode: 0o600, keep: foreign < 0, step: step})
}

// WriteTokenFile replaces the token file at path with f, encoded as a run
// writes it, atomically and durably (replaceFile), keeping the old file's
// mode and owner (0600 for a new file). A file that ReadTokenFile would
// refuse, over 1 MiB (ErrTooBig) or nested too deep (ErrTooDeep), is not
// written and the old file is kept: a file the next run refuses would stop
// the timer loop.
func WriteTokenFile(path string, f *TokenFile) error {
	return writeFile(path, f.encode())
}

// writeFile is WriteTokenFile of bytes already encoded.
func writeFile(path string, data []byte) error {
	if err := readable(data); err != nil {
		return fmt.Errorf("refusing to write %s: %w", path, err)
	}
	return replaceFile(path, data, replaceOptions{mode: 0o600, keep: true, step: step})
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
	return seam.Fsync(d)
}

// RemoveTemps removes the temp files that a killed run left beside path.
// It runs under the lock, when no other refresh-token run is writing.
func RemoveTemps(path string, log *slog.Logger) {
	target, err := resolve(path)
	if err != nil {
		return
	}
	dir, base := filepath.Split(target)
	matches, _ := filepath.Glob(filepath.Join(dir, globEscape(base)+TempMark+"*"))
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
// never deleted: deleting a lock file races with its next user), trying
// every lockPoll until timeout has passed; a timeout of 0 or less is one
// try. It is OpenLock, then LockFile.Lock.
func Lock(ctx context.Context, path string, timeout time.Duration) (*FileLock, error) {
	lf, err := OpenLock(path)
	if err != nil {
		return nil, err
	}
	l, err := lf.Lock(ctx, timeout)
	if err != nil {
		lf.Close()
	}
	return l, err
}

// LockFile is the lock file, open and checked, not yet locked.
type LockFile struct {
	f    *os.File
	path string
}

// OpenLock opens (creating it) the lock file beside the token file,
// without following a symlink and without blocking, and refuses it unless
// it is a regular file owned by us or root: in a directory others can
// write, a planted symlink or file would otherwise make the run create or
// lock a file of their choosing. A login opens it before it shows the
// authorization URL, so that these failures come before the user logs in.
func OpenLock(path string) (*LockFile, error) {
	lockPath := path + ".lock"
	f, err := OpenRegular(lockPath, os.O_RDONLY|os.O_CREATE, 0o600, true)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, exit.Fail(exit.NoInput, "pass --token-file with the schwab-py token file",
			"token file directory %s not found", filepath.Dir(path))
	case errors.Is(err, syscall.ELOOP):
		return nil, exit.Fail(exit.CantCreate, "remove the symlink; refresh-token creates its lock file itself",
			"lock %s is a symlink: refusing to follow it", lockPath)
	case errors.Is(err, ErrNotRegular):
		return nil, exit.Fail(exit.CantCreate, "remove it; refresh-token creates its lock file itself",
			"lock %s: %w", lockPath, bareErr(err))
	case err != nil:
		return nil, exit.Fail(exit.CantCreate, "check that the token file's directory is writable by this user",
			"lock %s: %w", lockPath, bareErr(err))
	}
	if uid, ok := fileOwner(f); ok && !trustedOwner(uid) {
		f.Close()
		return nil, exit.Fail(exit.CantCreate, "remove the lock file if you trust it no longer; refresh-token creates its own",
			"lock %s belongs to uid %d, not to us (uid %d) or root: refusing to use it", lockPath, uid, os.Geteuid())
	}
	return &LockFile{f: f, path: lockPath}, nil
}

// Close closes a lock file that was not locked, or whose lock failed.
func (lf *LockFile) Close() error { return lf.f.Close() }

// Lock takes the exclusive lock, trying every lockPoll until timeout has
// passed; a timeout of 0 or less is one try. A lock still busy then, or
// when ctx ends, is exit 75. The held lock owns the file: Unlock closes it.
func (lf *LockFile) Lock(ctx context.Context, timeout time.Duration) (*FileLock, error) {
	deadline := time.Now().Add(timeout)
	for {
		err := unix.Flock(int(lf.f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return &FileLock{f: lf.f}, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			return nil, exit.Fail(exit.CantCreate, "check that the token file's directory is writable by this user",
				"lock %s: %w", lf.path, err)
		}
		wait := min(lockPoll, time.Until(deadline))
		if wait <= 0 {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
			continue
		case <-ctx.Done():
			t.Stop()
		}
		break
	}
	return nil, &exit.Error{Code: exit.TempFail, Err: fmt.Errorf("%w %s (waited %s)", ErrBusy, lf.path, max(timeout, 0)),
		Hint: "another refresh-token run holds the lock; this is safe, the next run will proceed"}
}

// ErrBusy is a lock that another run held past the timeout.
var ErrBusy = errors.New("busy: another refresh-token run holds the lock")

// lockPoll is how often Lock tries a busy lock again.
const lockPoll = 50 * time.Millisecond

// FileLock is a held lock; Unlock releases it.
type FileLock struct {
	f    *os.File
	once sync.Once
}

// Unlock releases the lock and closes its file.
func (l *FileLock) Unlock() error {
	err := unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	return errors.Join(err, l.f.Close())
}

// Release unlocks once, however often it is called (early, and again
// deferred), and logs a failure as a WARN: the run goes on without the
// lock either way.
func (l *FileLock) Release(log *slog.Logger) {
	l.once.Do(func() {
		if err := l.Unlock(); err != nil {
			log.Warn("Release lock", "error", err)
		}
	})
}

// fileOwner returns the uid that owns f.
func fileOwner(f *os.File) (int, bool) {
	fi, err := f.Stat()
	if err != nil {
		return 0, false
	}
	return owner(fi)
}

// CheckTokenPath fails, before a login, when the new file could not be
// written: its directory must exist and be writable, and what is at the
// path must be a regular file or nothing. A directory there is exit 73, any
// other file that is not regular (a FIFO, a device) exit 66, as a run
// refuses it.
func CheckTokenPath(path string) error {
	target, err := resolve(path)
	if err != nil {
		return exit.Fail(exit.NoInput, "point --token-file at a file in an existing directory", "token file: %w", err)
	}
	dir := filepath.Dir(target)
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return exit.Fail(exit.NoInput, "create the directory, or pass --token-file", "token file directory %s not found", dir)
	}
	if err := syscall.Access(dir, 0o2); err != nil { // W_OK
		return exit.Fail(exit.CantCreate, "run the login as the user that owns the token file (the bot's user)",
			"token file directory %s is not writable: %v", dir, err)
	}
	fi, err := os.Lstat(target)
	switch {
	case err != nil:
		return nil // nothing there: the login creates it
	case fi.IsDir():
		return exit.Fail(exit.CantCreate, "point --token-file at a file, not a directory",
			"token file %s is a directory", path)
	case !fi.Mode().IsRegular():
		return exit.Fail(exit.NoInput, "point --token-file at the schwab-py token file, a regular file, or remove what is there",
			"token file %s is %s, not a regular file", path, kind(fi.Mode()))
	}
	return nil
}

// LockHeld reports whether a refresh-token run holds the lock beside the
// token file now. It tries a shared lock on a separate descriptor, without
// waiting and without creating the lock file, and drops it at once: a run
// holding the exclusive lock makes the try fail; a run starting in that
// instant meets a busy lock and tries again 50 ms later, as it does for any
// run. Like Lock, it does not follow a symlink at the lock's path. An error
// means it cannot tell.
func LockHeld(tokenFile string) (bool, error) {
	f, err := OpenRegular(tokenFile+".lock", os.O_RDONLY, 0, true)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if dir := filepath.Dir(tokenFile); !isDir(dir) {
			return false, fmt.Errorf("the token file's directory %s does not exist", dir)
		}
		return false, nil // no run has taken it yet
	case errors.Is(err, syscall.ELOOP):
		return false, errors.New("the lock is a symlink; run refuses to follow it")
	case err != nil:
		return false, err
	}
	defer f.Close()
	err = unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
	switch {
	case errors.Is(err, unix.EWOULDBLOCK):
		return true, nil
	case err != nil:
		return false, err
	}
	unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return false, nil
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
