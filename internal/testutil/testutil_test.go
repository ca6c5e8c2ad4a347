package testutil

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestSyncBuffer(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() { fmt.Fprintf(&b, "%d\n", i) })
		_ = b.String()
	}
	wg.Wait()
	if n := strings.Count(b.String(), "\n"); n != 10 {
		t.Errorf("%d lines, want 10: %q", n, b.String())
	}
}

func TestShortTempDir(t *testing.T) {
	var dir string
	t.Run("use", func(t *testing.T) {
		dir = ShortTempDir(t)
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			t.Fatalf("Stat(%q) = %v, %v", dir, fi, err)
		}
		if len(filepath.Join(dir, "bot.sock")) > 100 {
			t.Errorf("%q is too long for a socket path", dir)
		}
	})
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%q outlived its test: %v", dir, err)
	}
}

func TestCopyExecutable(t *testing.T) {
	bin := CopyExecutable(t, t.TempDir())
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("copy %s differs from %s", bin, exe)
	}
	if fi, err := os.Stat(bin); err != nil || fi.Mode()&0o100 == 0 {
		t.Errorf("Stat(%q) = %v, %v; want an executable file", bin, fi, err)
	}
}
