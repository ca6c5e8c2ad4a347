package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/seam"
)

// recordFsyncs replaces seam.Fsync for the test: each call is described by what
// it syncs and what the temp file and the token file hold at that moment,
// then fails with fail(f) or really syncs.
func recordFsyncs(t *testing.T, path string, fail func(f *os.File) error) *[]string {
	t.Helper()
	real := seam.Fsync
	t.Cleanup(func() { seam.Fsync = real })
	var events []string
	seam.Fsync = func(f *os.File) error {
		st, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		target, _ := os.ReadFile(path)
		if st.IsDir() {
			events = append(events, fmt.Sprintf("fsync dir %s; token file %q", filepath.Clean(f.Name()), target))
		} else {
			content, _ := os.ReadFile(f.Name())
			name := strings.TrimPrefix(f.Name(), path+TempMark)
			if name == f.Name() {
				name = "NOT A TEMP FILE " + f.Name()
			} else {
				name = "temp"
			}
			events = append(events, fmt.Sprintf("fsync %s %q; token file %q", name, content, target))
		}
		if fail != nil {
			if err := fail(f); err != nil {
				return err
			}
		}
		return real(f)
	}
	return &events
}

// The durable write in order: the temp file is written, then fsynced while
// the token file still holds the old data, then renamed over it, then the
// directory is fsynced with the new data in place. A crash test cannot see
// a missing fsync (the page cache survives SIGKILL); this order can.
func TestWriteFileFsyncOrder(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens.json")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	events := recordFsyncs(t, path, nil)
	if err := writeFile(path, []byte("new data")); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`fsync temp "new data"; token file "old"`,
		`fsync dir ` + dir + `; token file "new data"`,
	}
	if diff := cmp.Diff(want, *events); diff != "" {
		t.Errorf("fsyncs (-want +got):\n%s", diff)
	}
}

// A temp file that cannot be fsynced is not renamed: the old file stays,
// the temp file goes, and the error says what failed.
func TestWriteFileFsyncFails(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens.json")
	os.WriteFile(path, []byte("old"), 0o600)
	events := recordFsyncs(t, path, func(*os.File) error { return syscall.EIO })
	err := writeFile(path, []byte("new data"))
	if !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), "fsync temp file for "+path+": ") {
		t.Errorf("err = %v, want the temp file's fsync error", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "old" {
		t.Errorf("token file = %q, want the old one", got)
	}
	assertNoTemps(t, dir)
	if len(*events) != 1 {
		t.Errorf("fsyncs after the failed one: %q", *events)
	}
}

// The directory's fsync failing is reported: the rename is done but may
// not survive a power cut.
func TestWriteFileDirFsyncFails(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens.json")
	os.WriteFile(path, []byte("old"), 0o600)
	recordFsyncs(t, path, func(f *os.File) error {
		if st, _ := f.Stat(); st.IsDir() {
			return syscall.EIO
		}
		return nil
	})
	err := writeFile(path, []byte("new data"))
	if !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), "fsync directory") {
		t.Errorf("err = %v, want the directory's fsync error", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "new data" {
		t.Errorf("token file = %q, want the new data in place", got)
	}
	assertNoTemps(t, dir)
}

// Root keeps the group of a root-owned file that the dashboard's group may
// read (only the gid differs from root's), and gives a new file no owner
// but itself.
func TestWriteFileKeepsGroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file another group")
	}
	const dashboard = 4242
	for _, tt := range []struct {
		name     string
		uid, gid int // -1: no old file
		mode     os.FileMode
	}{
		{"root-owned, dashboard group", 0, dashboard, 0o640},
		{"other user, dashboard group", 65534, dashboard, 0o640},
		{"root-owned, root group", 0, 0, 0o600},
		{"other user, root group", 65534, 0, 0o600},
		{"new file", -1, -1, 0o600},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "tokens.json")
			if tt.uid >= 0 {
				os.WriteFile(p, []byte("old"), tt.mode)
				os.Chmod(p, tt.mode)
				if err := os.Chown(p, tt.uid, tt.gid); err != nil {
					t.Fatal(err)
				}
			}
			if err := writeFile(p, []byte("new")); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			sys := st.Sys().(*syscall.Stat_t)
			wantUID, wantGID := tt.uid, tt.gid
			if tt.uid < 0 {
				wantUID, wantGID = os.Geteuid(), os.Getegid()
			}
			if int(sys.Uid) != wantUID || int(sys.Gid) != wantGID || st.Mode().Perm() != tt.mode {
				t.Errorf("owner %d:%d mode %v, want %d:%d %v", sys.Uid, sys.Gid, st.Mode().Perm(), wantUID, wantGID, tt.mode)
			}
		})
	}
}

// A lock file that cannot be created is a failure to write (73) with the
// reason, not "busy" (75): no other run holds anything.
func TestLockCannotBeCreated(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tokens.json")
	if err := os.Mkdir(p+".lock", 0o700); err != nil { // open(O_RDWR) of a directory fails
		t.Fatal(err)
	}
	_, err := Lock(context.Background(), p, time.Second)
	if exit.Code(err) != exit.CantCreate || strings.Contains(err.Error(), "busy") || !errors.Is(err, syscall.EISDIR) {
		t.Errorf("err = %v (exit %d), want 73 with the reason", err, exit.Code(err))
	}
}

// A run cancelled while it waits for the lock (SIGTERM) is "busy" (75),
// not a write failure: a later run may proceed.
func TestLockCancelledIsBusy(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tokens.json")
	held, err := Lock(context.Background(), p, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Lock(ctx, p, time.Hour)
	if exit.Code(err) != exit.TempFail || !strings.Contains(err.Error(), "busy: another refresh-token run holds the lock") {
		t.Errorf("err = %v (exit %d), want busy, 75", err, exit.Code(err))
	}
}

// A float at exactly -2^63 is the smallest int64, not out of range.
func TestIntFieldSmallestFloat(t *testing.T) {
	if n, err := intField([]byte("-9.223372036854775808e18")); err != nil || n != math.MinInt64 {
		t.Errorf("intField(-2^63 as a float) = %d, %v; want %d", n, err, int64(math.MinInt64))
	}
}
