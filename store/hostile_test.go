package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/seam"
	"github.com/refresh-token/refresh-token/internal/testutil"
	"github.com/refresh-token/refresh-token/oauth"
)

// The pauses before reading a half-written token file again end with the
// signal.
func TestReadTokenFilePauseInterrupted(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tokens.json")
	os.WriteFile(p, []byte(`{"token": {"refresh_`), 0o600)
	pauses := seam.Reread
	seam.Reread = []time.Duration{time.Hour}
	defer func() { seam.Reread = pauses }()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	var err error
	testutil.NoHang(t, 10*time.Second, nil, func() { _, err = ReadTokenFile(ctx, p, discard()) })
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("err = %v, want interrupted", err)
	}
}

// --lock-timeout 0, 1ns or negative is one try: it gets a free lock, and
// reports a held one as busy at once.
func TestLockTimeoutZeroTriesOnce(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tokens.json")
	for _, d := range []time.Duration{0, time.Nanosecond, -time.Second} {
		l, err := Lock(context.Background(), p, d)
		if err != nil {
			t.Fatalf("--lock-timeout %s, lock free: %v", d, err)
		}
		start := time.Now()
		_, err = Lock(context.Background(), p, d)
		if exit.Code(err) != exit.TempFail || time.Since(start) > time.Second {
			t.Errorf("--lock-timeout %s, lock held: exit %d after %s (%v), want 75 at once", d, exit.Code(err), time.Since(start), err)
		}
		l.Unlock()
	}
}

// A symlink planted at the lock's path is not followed: nothing is created
// where it points, and the run stops with 73 before it reads a token.
func TestLockRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tokens.json")
	victim := filepath.Join(dir, "victim")
	os.Symlink(victim, p+".lock")
	_, err := Lock(context.Background(), p, 0)
	if exit.Code(err) != exit.CantCreate || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("exit %d (%v), want 73 naming the symlink", exit.Code(err), err)
	}
	if _, err := os.Lstat(victim); err == nil {
		t.Error("the symlink's target was created")
	}
}

// A lock file that another user owns is refused: they could hold it for
// ever, or it may be a file of theirs planted under the lock's name.
func TestLockRefusesForeignOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the lock file away")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "tokens.json")
	os.WriteFile(p+".lock", nil, 0o600)
	if err := os.Chown(p+".lock", 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, err := Lock(context.Background(), p, 0)
	if exit.Code(err) != exit.CantCreate || !strings.Contains(err.Error(), "belongs to uid 65534") {
		t.Errorf("exit %d (%v), want 73 naming the owner", exit.Code(err), err)
	}
	// Root's own lock file is fine.
	os.Chown(p+".lock", 0, 0)
	l, err := Lock(context.Background(), p, 0)
	if err != nil {
		t.Fatal(err)
	}
	l.Unlock()
}

// A write past the cap is refused and the old file kept: a file the next
// run refuses would stop the timer's loop until someone edits it.
func TestWriteFileRefusesOverCap(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tokens.json")
	os.WriteFile(p, []byte("old"), 0o600)
	err := writeFile(p, bytes.Repeat([]byte(" "), MaxTokenFile+1))
	if err == nil || !strings.Contains(err.Error(), "over the 1 MiB that a run reads back") {
		t.Errorf("err = %v, want a refusal", err)
	}
	if got := testutil.Read(t, p); string(got) != "old" {
		t.Errorf("old file replaced by %d bytes", len(got))
	}
	assertNoTemps(t, filepath.Dir(p))
	if err := writeFile(p, bytes.Repeat([]byte(" "), MaxTokenFile)); err != nil {
		t.Errorf("exactly the cap: %v", err)
	}
}

// The app config is capped before yaml.v3 parses it: a 200 MB file took
// 914 MB of memory.
func TestAppConfigCapped(t *testing.T) {
	p := filepath.Join(t.TempDir(), "app.yaml")
	const kib64 = 64 << 10
	head := "app_key: K\napp_secret: S\n#"
	os.WriteFile(p, []byte(head+strings.Repeat("x", kib64-len(head))), 0o600)
	if _, err := LoadApp(p, ""); err != nil {
		t.Errorf("exactly 64 KiB: %v", err)
	}
	os.WriteFile(p, []byte(head+strings.Repeat("x", kib64-len(head)+1)), 0o600)
	if _, err := LoadApp(p, ""); exit.Code(err) != exit.Config || !strings.Contains(err.Error(), "over 64 KiB") || exit.Hint(err) == "" {
		t.Errorf("64 KiB + 1: exit %d (%v), want 78 with a hint", exit.Code(err), err)
	}
}

// Whole seconds from a JSON number: 2^63 does not fit in int64, though
// float64(math.MaxInt64) rounds to it.
func TestIntFieldRange(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"9223372036854775807", 9223372036854775807, true},
		{"-9223372036854775808", -9223372036854775808, true},
		{"9223372036854775808", 0, false},
		{"9.3e18", 0, false},
		{"1e300", 0, false},
		{"-9.3e18", 0, false},
		{"1700000000.9", 1700000000, true},
	} {
		got, err := intField([]byte(tt.in))
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("intField(%s) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// A token file that is not JSON is described in the reader's terms: what
// was found, at which byte, line and column.
func TestTokenFileSyntaxError(t *testing.T) {
	for in, want := range map[string]string{
		"this is not json":       "not valid JSON: unexpected 'h' at byte 2 (line 1, column 2)",
		"{\n  \"a\": 1,\n  x\n}": "not valid JSON: unexpected 'x' at byte 15 (line 3, column 3)",
		`{"token": {"refresh_`:   "not valid JSON: ends after 20 bytes, before the JSON is complete (cut short?)",
		"\xef\xbb\xbf{}":         "not valid JSON: starts with a UTF-8 byte order mark",
		`{"token": {}} {}`:       "not valid JSON: unexpected data after the JSON object: '{' at byte 15 (line 1, column 15)",
		"{\"token\": \x01}":      "not valid JSON: unexpected byte 0x01 at byte 11",
	} {
		_, err := ParseTokenFile([]byte(in))
		if exit.Code(err) != exit.Data || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "invalid character") {
			t.Errorf("%q: %v, want exit 65 and %q", in, err, want)
		}
	}
}

// Our own values are written as Python writes them, '<', '>' and '&'
// unescaped, indented and compact.
func TestOwnValuesUnescaped(t *testing.T) {
	f, err := ParseTokenFile([]byte(`{"token": {"refresh_token": "RT"}}`))
	if err != nil {
		t.Fatal(err)
	}
	f.Apply(&oauth.Response{AccessToken: "a<b&c>d", ExpiresIn: 1800}, time.Unix(1_800_000_000, 0))
	if out := f.Marshal(); !bytes.Contains(out, []byte(`"access_token": "a<b&c>d"`)) {
		t.Errorf("indented: %s", out)
	}
	var b bytes.Buffer
	f.top.appendCompact(&b)
	if !bytes.Contains(b.Bytes(), []byte(`"access_token":"a<b&c>d"`)) {
		t.Errorf("compact: %s", b.Bytes())
	}
}

// Replace and OpenOwn never go through a symlink, dangling or not: the
// link stays, nothing is created where it points, and the temp file is
// removed.
func TestReplaceAndOpenOwnRefuseSymlinks(t *testing.T) {
	dir, elsewhere := t.TempDir(), t.TempDir()
	target := filepath.Join(elsewhere, "made.prom")
	link := filepath.Join(dir, "m.prom")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := Replace(link, []byte("x 1\n"), 0o644); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("Replace through a dangling symlink: %v", err)
	}
	if f, err := OpenOwn(link, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600); err == nil || !strings.Contains(err.Error(), "a symlink: refusing to follow it") {
		if f != nil {
			f.Close()
		}
		t.Errorf("OpenOwn through a dangling symlink: %v", err)
	}
	if _, err := os.Lstat(target); err == nil {
		t.Error("a file was made where the symlink points")
	}
	if m, _ := filepath.Glob(filepath.Join(elsewhere, "*")); len(m) > 0 {
		t.Errorf("files made in the symlink's directory: %v", m)
	}
	// A regular file of ours is replaced in place, made mode whatever the umask.
	p := filepath.Join(dir, "ok.prom")
	if err := Replace(p, []byte("x 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.CheckMode(t, p, 0o644)
	if fi, err := os.Stat(p); err != nil {
		t.Fatal(err)
	} else if uid, _ := owner(fi); uid != os.Geteuid() {
		t.Errorf("replaced file owned by uid %d, want ours, %d", uid, os.Geteuid())
	}
	f, err := OpenOwn(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil || f == nil {
		t.Fatalf("OpenOwn of our own file: %v, %v", f, err)
	}
	if _, err := f.WriteString("y 2\n"); err != nil {
		t.Errorf("write to the opened file: %v", err)
	}
	f.Close()
}

// What the reader takes, the writer writes: a file of exactly 1 MiB is
// written and read back; one byte more is refused. A depth refusal names
// the byte of the bracket too deep, counted from 1.
func TestWriteAtTheReadersLimits(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tokens.json")
	head := `{"token":{"refresh_token":"RT","x":"`
	exact := []byte(head + strings.Repeat("p", MaxTokenFile-len(head)-3) + `"}}`)
	if len(exact) != MaxTokenFile {
		t.Fatalf("%d bytes", len(exact))
	}
	if err := writeFile(p, exact); err != nil {
		t.Fatalf("a file of exactly 1 MiB: %v", err)
	}
	if _, err := ReadTokenFile(context.Background(), p, discard()); err != nil {
		t.Fatalf("read back: %v", err)
	}
	over := append([]byte(head+"p"), exact[len(head):]...)
	if err := writeFile(p, over); !errors.Is(err, ErrTooBig) {
		t.Errorf("1 MiB and a byte: %v, want ErrTooBig", err)
	}
	deep := []byte(`{"token": {"refresh_token": "RT", "x": ` + strings.Repeat("[", 31) + strings.Repeat("]", 31) + `}}`)
	want := fmt.Sprintf("at byte %d: nested more than", bytes.LastIndexByte(deep, '[')+1)
	if err := writeFile(p, deep); !errors.Is(err, ErrTooDeep) || !strings.Contains(err.Error(), want) {
		t.Errorf("too deep: %v, want ErrTooDeep %q", err, want)
	}
}
