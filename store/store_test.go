package store

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/seam"
)

func TestWriteFileKeepsModeAndReplaces(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tokens.json")
	if err := os.WriteFile(p, []byte("old"), 0o640); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, 0o640) // umask may have narrowed it
	if err := writeFile(p, []byte("new")); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o640 {
		t.Errorf("mode = %v, want 0640", st.Mode().Perm())
	}
	got, _ := os.ReadFile(p)
	if string(got) != "new" {
		t.Errorf("content = %q", got)
	}
	assertNoTemps(t, dir)
}

func TestWriteFileNewIs0600(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tokens.json")
	if err := writeFile(p, []byte("x")); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", st.Mode().Perm())
	}
}

// A failed write leaves the old file byte-identical and no temp file.
func TestWriteFileFailureLeavesOld(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tokens.json")
	os.WriteFile(p, []byte("old"), 0o600)
	// Renaming a file over a directory fails after the temp is written.
	q := filepath.Join(dir, "sub")
	os.Mkdir(q, 0o700)
	os.WriteFile(filepath.Join(q, "keep"), nil, 0o600)
	if err := writeFile(q, []byte("new")); err == nil {
		t.Fatal("rename over a non-empty directory succeeded")
	}
	assertNoTemps(t, dir)
	got, _ := os.ReadFile(p)
	if string(got) != "old" {
		t.Errorf("old file = %q", got)
	}
}

func TestWriteFileThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real", "tokens.json")
	os.Mkdir(filepath.Dir(real), 0o700)
	os.WriteFile(real, []byte("old"), 0o600)
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink("real/tokens.json", link); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(link, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("link replaced: %v %v", fi.Mode(), err)
	}
	got, _ := os.ReadFile(real)
	if string(got) != "new" {
		t.Errorf("target = %q, want new", got)
	}
	assertNoTemps(t, filepath.Dir(real))
}

// Each write step is reached in order; the hook is how crash tests kill a
// run at a chosen moment.
func TestWriteFileSteps(t *testing.T) {
	var steps []string
	seam.WriteStep = func(s string) { steps = append(steps, s) }
	defer func() { seam.WriteStep = nil }()
	if err := writeFile(filepath.Join(t.TempDir(), "f"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(steps, ","); got != "before-write,after-fsync,before-rename,after-rename" {
		t.Errorf("steps = %s", got)
	}
}

func TestRemoveTemps(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tokens.json")
	stale := p + TempMark + "123"
	other := filepath.Join(dir, "other.json"+TempMark+"1")
	for _, f := range []string{p, stale, other} {
		os.WriteFile(f, []byte("x"), 0o600)
	}
	var logs bytes.Buffer
	RemoveTemps(p, slog.New(slog.NewTextHandler(&logs, nil)))
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("stale temp file survived")
	}
	if n := strings.Count(logs.String(), "Removed temp file left by an interrupted run"); n != 1 || !strings.Contains(logs.String(), stale) {
		t.Errorf("want one line naming the removed file:\n%s", logs.String())
	}
	for _, f := range []string{p, other} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("%s removed: %v", f, err)
		}
	}
}

func assertNoTemps(t *testing.T, dir string) {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*"+TempMark+"*"))
	if len(m) > 0 {
		t.Errorf("temp files left: %v", m)
	}
}

func TestLockBusyAndMode(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tokens.json")
	l, err := Lock(context.Background(), p, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	st, _ := os.Stat(p + ".lock")
	if st.Mode().Perm() != 0o600 {
		t.Errorf("lock mode = %v, want 0600", st.Mode().Perm())
	}
	_, err = Lock(context.Background(), p, 100*time.Millisecond)
	if exit.Code(err) != exit.TempFail || !strings.Contains(err.Error(), "busy: another refresh-token run holds the lock") {
		t.Errorf("second lock: %v (exit %d)", err, exit.Code(err))
	}
}

func TestLockMissingDir(t *testing.T) {
	_, err := Lock(context.Background(), filepath.Join(t.TempDir(), "nope", "tokens.json"), time.Second)
	if exit.Code(err) != exit.NoInput {
		t.Errorf("exit = %d, want 66 (%v)", exit.Code(err), err)
	}
}

// A file caught half-written by a non-atomic writer is read again.
func TestReadTokenFileRereadsHalfWritten(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tokens.json")
	full := []byte(`{"creation_timestamp": 1, "token": {"refresh_token": "RT"}}`)
	os.WriteFile(p, full[:20], 0o600)
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(30 * time.Millisecond)
		os.WriteFile(p, full, 0o600)
	}()
	f, err := ReadTokenFile(context.Background(), p, discard())
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if f.Token.RefreshToken != "RT" {
		t.Errorf("refresh token = %q", f.Token.RefreshToken)
	}
}

func TestReadTokenFileErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadTokenFile(context.Background(), filepath.Join(dir, "missing"), discard()); exit.Code(err) != exit.NoInput {
		t.Errorf("missing: exit %d", exit.Code(err))
	}
	p := filepath.Join(dir, "bad")
	os.WriteFile(p, []byte("{"), 0o600)
	if _, err := ReadTokenFile(context.Background(), p, discard()); exit.Code(err) != exit.Data || !strings.Contains(err.Error(), p) {
		t.Errorf("bad: %v exit %d", err, exit.Code(err))
	}
}

func TestWriteFileKeepsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to own a file as another user")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "tokens.json")
	os.WriteFile(p, []byte("old"), 0o600)
	if err := os.Chown(p, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(p, bytes.Repeat([]byte("n"), 10)); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(p)
	sys := st.Sys().(*syscall.Stat_t)
	if sys.Uid != 65534 || sys.Gid != 65534 {
		t.Errorf("owner = %d:%d, want 65534:65534", sys.Uid, sys.Gid)
	}
}

// A token file is a few KB. One of 10 MB is not a schwab-py token file,
// even if it parses: it is refused whole, without reading it all into memory
// or rewriting it, and without the re-read pauses of a half-written file.
func TestReadTokenFileTooLarge(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tokens.json")
	pad := strings.Repeat("x", 10<<20)
	os.WriteFile(p, []byte(`{"creation_timestamp": 1, "pad": "`+pad+`", "token": {"refresh_token": "RT"}}`), 0o600)
	// Re-read pauses long enough that a re-read cannot go unnoticed.
	pauses := seam.Reread
	seam.Reread = []time.Duration{time.Minute}
	defer func() { seam.Reread = pauses }()
	start := time.Now()
	_, err := ReadTokenFile(context.Background(), p, discard())
	if exit.Code(err) != exit.Data || !strings.Contains(err.Error(), "over 1 MiB") || exit.Hint(err) == "" {
		t.Fatalf("10 MB file: exit %d, %v (hint %q); want 65, over 1 MiB, a hint", exit.Code(err), err, exit.Hint(err))
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("took %s: a file too large to be a token file is not read again", d)
	}
	// Exactly the limit is still read.
	small := []byte(`{"token": {"refresh_token": "RT"}}`)
	os.WriteFile(p, append(small, bytes.Repeat([]byte(" "), MaxTokenFile-len(small))...), 0o600)
	if _, err := ReadTokenFile(context.Background(), p, discard()); err != nil {
		t.Errorf("file of exactly %d bytes: %v", MaxTokenFile, err)
	}
}

// Release unlocks once, however often it is called: the next run gets the
// lock at once, and a second call (the deferred one) warns of nothing.
func TestReleaseOnce(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tokens.json")
	l, err := Lock(context.Background(), p, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	l.Release(log)
	l.Release(log)
	if logs.Len() > 0 {
		t.Errorf("a second Release logged:\n%s", logs.String())
	}
	l2, err := Lock(context.Background(), p, 0)
	if err != nil {
		t.Fatalf("the lock is still held after Release: %v", err)
	}
	l2.Release(log)
}
