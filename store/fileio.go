package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/refresh-token/refresh-token/internal/seam"
	"golang.org/x/sys/unix"
)

// ErrNotRegular is returned for a path that is a FIFO, a device, a socket
// or a directory where a regular file belongs.
var ErrNotRegular = errors.New("not a regular file")

// OpenRegular opens path without blocking and returns it only if it is a
// regular file. A plain open(2) of a FIFO waits for a writer (or, for
// writing, a reader) forever, and no signal handler in Go can interrupt it:
// O_NONBLOCK makes that open return at once, and fstat then refuses
// anything but a regular file. O_NONBLOCK has no effect on regular files.
// With noFollow a symlink at path is refused (ELOOP) instead of followed.
func OpenRegular(path string, flag int, perm fs.FileMode, noFollow bool) (*os.File, error) {
	flag |= unix.O_NONBLOCK | unix.O_CLOEXEC
	if noFollow {
		flag |= unix.O_NOFOLLOW
	}
	f, err := os.OpenFile(path, flag, perm)
	if errors.Is(err, syscall.ENXIO) {
		// A FIFO opened for writing with no reader.
		return nil, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w (a FIFO)", ErrNotRegular)}
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w (%s)", ErrNotRegular, kind(fi.Mode()))}
	}
	return f, nil
}

// kind names a file type for an error message.
func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	}
	return "mode " + m.String()
}

var errTooLarge = errors.New("file too large")

// readFile reads the regular file at path, refusing it with errTooLarge
// past limit bytes and with ErrNotRegular if it is not a regular file.
func readFile(path string, limit int64) ([]byte, error) {
	f, err := OpenRegular(path, os.O_RDONLY, 0, false)
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

// replaceOptions say how replaceFile makes the new file.
type replaceOptions struct {
	mode     fs.FileMode  // mode of the new file
	keep     bool         // keep an existing file's mode and owner instead of mode
	noFollow bool         // replace a symlink at path itself, never its target
	step     func(string) // called at each step; nil for none
}

// replaceFile replaces path with data atomically and durably: a temp file
// in the same directory (named with TempMark, so a later run can find what a
// killed one left), written and fsynced, given its mode (and owner), renamed
// over the old file, then the directory fsynced. On failure the temp file is
// removed and the old file is untouched. A symlink at path is written
// through: its target is replaced, the link kept. Both the token file and
// the metrics file are written here.
func replaceFile(path string, data []byte, o replaceOptions) (err error) {
	step := o.step
	if step == nil {
		step = func(string) {}
	}
	target := path
	if !o.noFollow {
		if target, err = resolve(path); err != nil {
			return err
		}
	}
	dir, base := filepath.Dir(target), filepath.Base(target)
	mode := o.mode
	uid, gid := -1, -1
	if st, err := os.Stat(target); err == nil && o.keep {
		mode = st.Mode().Perm()
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(sys.Uid), int(sys.Gid)
		}
	}

	step("before-write")
	tmp, err := os.CreateTemp(dir, base+TempMark+"*")
	if err != nil {
		return fmt.Errorf("create a temp file in directory %s: %w", dir, bareErr(err))
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("write temp file for %s: %w", target, bareErr(err))
	}
	if err = tmp.Chmod(mode); err != nil {
		return fmt.Errorf("chmod temp file for %s: %w", target, bareErr(err))
	}
	if uid >= 0 && (uid != os.Geteuid() || gid != os.Getegid()) {
		// Keep the owner that other readers (the dashboard) rely on. Only
		// root may give a file away; anyone may keep their own group.
		if err = tmp.Chown(uid, gid); err != nil {
			return fmt.Errorf("keep owner %d:%d of %s: %w", uid, gid, target, bareErr(err))
		}
	}
	if err = seam.Fsync(tmp); err != nil {
		return fmt.Errorf("fsync temp file for %s: %w", target, bareErr(err))
	}
	step("after-fsync")
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("close temp file for %s: %w", target, bareErr(err))
	}
	step("before-rename")
	if err = os.Rename(tmp.Name(), target); err != nil {
		return fmt.Errorf("rename over %s: %w", target, bareErr(err))
	}
	step("after-rename")
	// The rename is durable only once the directory is on disk; the data is
	// already in place, so a failure here is reported but not undone.
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// Replace replaces the file at path with data as replaceFile does, made
// mode whatever the umask, for files other than the token file (the
// metrics). It never follows a symlink at path: the temp file and the
// rename happen in the directory path names. A symlink, a path that is
// not a regular file, or a file owned by another user (not us, not root)
// is refused and left alone.
func Replace(path string, data []byte, mode fs.FileMode) error {
	fi, err := os.Lstat(path)
	switch {
	case err == nil && fi.Mode()&fs.ModeSymlink != 0:
		return errors.New("it is a symlink: refusing to follow it")
	case err == nil && !fi.Mode().IsRegular():
		return fmt.Errorf("it is %s, not a regular file", kind(fi.Mode()))
	case err == nil:
		if uid, ok := owner(fi); ok && !trustedOwner(uid) {
			return foreignError(uid)
		}
	}
	return replaceFile(path, data, replaceOptions{mode: mode, noFollow: true})
}

// OpenOwn opens path as OpenRegular does, never through a symlink, and
// refuses a file owned by another user (not us, not root): in a directory
// others can write, such a file could be planted to collect what we write.
func OpenOwn(path string, flag int, perm fs.FileMode) (*os.File, error) {
	f, err := OpenRegular(path, flag, perm, true)
	if errors.Is(err, syscall.ELOOP) {
		return nil, &fs.PathError{Op: "open", Path: path, Err: errors.New("a symlink: refusing to follow it")}
	}
	if err != nil {
		return nil, err
	}
	if uid, ok := fileOwner(f); ok && !trustedOwner(uid) {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: path, Err: foreignError(uid)}
	}
	return f, nil
}

// trustedOwner reports whether a file of uid may be ours to write: our
// own, or root's.
func trustedOwner(uid int) bool { return uid == 0 || uid == os.Geteuid() }

func foreignError(uid int) error {
	return fmt.Errorf("it belongs to uid %d, not to us (uid %d) or root: refusing to use it", uid, os.Geteuid())
}

// owner returns the uid that owns the file fi describes.
func owner(fi fs.FileInfo) (int, bool) {
	sys, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(sys.Uid), true
}

// bareErr drops the path that an *fs.PathError or *os.LinkError repeats,
// so that messages name the file being replaced, not its temp file.
func bareErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}
