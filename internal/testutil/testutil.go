// Package testutil holds helpers shared by the tests of several packages.
package testutil

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
)

// SyncBuffer is a bytes.Buffer that one goroutine, or a child process's
// output, may write while the test reads it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// ShortTempDir returns a new directory under os.TempDir, removed when the
// test ends. Its path is short, unlike t.TempDir's: a Unix socket path must
// fit in sun_path's 108 bytes.
func ShortTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "rt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// CopyExecutable copies the running test binary into dir, under its own
// name, and returns the copy's path. The binary's own directory may be
// private to root; a copy in a directory other users can enter lets the
// test run it as another uid.
func CopyExecutable(t testing.TB, dir string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, filepath.Base(exe))
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// Seeds reads every file under dir that matches one of globs, for a fuzz
// target's seed corpus; a glob that matches nothing fails f.
func Seeds(f *testing.F, dir string, globs ...string) [][]byte {
	var all [][]byte
	for _, g := range globs {
		files, err := filepath.Glob(filepath.Join(dir, g))
		if err != nil || len(files) == 0 {
			f.Fatalf("no seeds match %s in %s", g, dir)
		}
		for _, p := range files {
			data, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			all = append(all, data)
		}
	}
	return all
}

// Read returns the content of the file at path, failing t if it cannot.
func Read(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// CheckMode fails t unless the file at path has permissions want.
func CheckMode(t testing.TB, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != want {
		t.Errorf("%s: mode %v, want %v", filepath.Base(path), st.Mode().Perm(), want)
	}
}

// Garbled matches what an overflowed or negative duration prints as in a
// log line or a report.
var Garbled = regexp.MustCompile(`-\d+ seconds|-\d+\.\d+ (days|hours)`)
