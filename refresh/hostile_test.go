package refresh

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/harness"
	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/testutil"
	"github.com/refresh-token/refresh-token/oauth"
)

// noHang runs fn and fails the test if it has not returned within limit.
// unblock, if set, is called then, so that a regressed fn stuck in open(2)
// on a FIFO can end; without it fn is left behind, and the suite goes on.
func noHang(t *testing.T, limit time.Duration, unblock func(), fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(limit):
		if unblock != nil {
			unblock()
			<-done
		}
		t.Fatalf("still running after %s: blocked", limit)
	}
}

// mkfifo makes a FIFO at path and returns what unblocks an open(2) stuck
// on it, reading or writing: opening its other end.
func mkfifo(t *testing.T, path string) func() {
	t.Helper()
	os.Remove(path)
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return func() {
		if f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NONBLOCK, 0); err == nil {
			t.Cleanup(func() { f.Close() })
		}
	}
}

// A FIFO at any path a run opens (token file, lock, app config, a
// credential, metrics file, log file) is refused at once instead of
// blocking the run, and so the timer, forever.
func TestFIFOsDoNotHang(t *testing.T) {
	tests := []struct {
		name string
		path func(c *cycle) string
		args []string
		code int
		want string
	}{
		{"token file", func(c *cycle) string { return c.tokens }, nil, exit.NoInput, "not a regular file (a FIFO)"},
		{"lock", func(c *cycle) string { return c.tokens + ".lock" }, nil, exit.CantCreate, `not a regular file (a FIFO) hint="remove it`},
		{"app config", func(c *cycle) string { return c.app }, nil, exit.NoInput, "not a regular file (a FIFO)"},
		{"credential", func(c *cycle) string {
			os.Mkdir(filepath.Join(c.dir, "creds"), 0o700)
			return filepath.Join(c.dir, "creds", "app_secret")
		}, nil, exit.NoInput, "not a regular file (a FIFO)"},
		{"metrics file", func(c *cycle) string { return filepath.Join(c.dir, "m.prom") }, []string{"--metrics-file", "m.prom"}, exit.OK, "m.prom: it is a FIFO, not a regular file hint="},
		{"log file", func(c *cycle) string { return filepath.Join(c.dir, "run.log") }, []string{"--log-file", "run.log"}, exit.OK, "Cannot open log file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCycle(t)
			t.Setenv("CREDENTIALS_DIRECTORY", filepath.Join(c.dir, "creds"))
			unblock := mkfifo(t, tt.path(c))
			var code int
			var out, errb bytes.Buffer
			noHang(t, 10*time.Second, unblock, func() {
				args := []string{"run", "--log-file=", "--token-file", c.tokens, "--socket", c.sock, "--retries", "1",
					"--app-config", c.app, "--token-url", c.url, "--force"}
				for i := range tt.args {
					if !strings.HasPrefix(tt.args[i], "--") {
						tt.args[i] = filepath.Join(c.dir, tt.args[i])
					}
				}
				code = Main(Build{}, append(args, tt.args...), &out, &errb)
			})
			if code != tt.code || !strings.Contains(errb.String(), tt.want) {
				t.Errorf("exit %d, want %d; stderr lacks %q:\n%s", code, tt.code, tt.want, errb.String())
			}
		})
	}
}

// status and deliver read the token file and the lock as run does.
func TestStatusAndDeliverFIFO(t *testing.T) {
	for _, args := range [][]string{{"status"}, {"deliver", "--log-file="}} {
		dir := t.TempDir()
		p := filepath.Join(dir, "tokens.json")
		unblock := mkfifo(t, p)
		var code int
		noHang(t, 10*time.Second, unblock, func() {
			code = Main(Build{}, append(args, "--token-file", p, "--socket", filepath.Join(dir, "none")), &bytes.Buffer{}, &bytes.Buffer{})
		})
		if code != exit.NoInput {
			t.Errorf("%v: exit %d, want 66", args, code)
		}
		lockDir := t.TempDir()
		tok := tokens(t, lockDir, time.Now().Unix()+1200, time.Now().Unix()-3600)
		unblock = mkfifo(t, tok+".lock")
		noHang(t, 10*time.Second, unblock, func() { lockStatus(tok) })
	}
}

// SIGTERM or SIGINT ends the run at any point: the waits watch the signal's
// context, and a command stuck where nothing can watch it is abandoned
// after interruptGrace.
func TestInterruptEndsStuckCommand(t *testing.T) {
	old := interruptGrace
	interruptGrace = 100 * time.Millisecond
	defer func() { interruptGrace = old }()
	ctx, cancel := context.WithCancel(context.Background())
	stuck := make(chan struct{})
	defer close(stuck)
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	var err error
	noHang(t, 10*time.Second, nil, func() { err = runInterruptible(ctx, func() error { <-stuck; return nil }) })
	if exit.Code(err) != exit.TempFail || !strings.Contains(err.Error(), "did not stop within") {
		t.Errorf("err = %v (exit %d), want 75 abandoned", err, exit.Code(err))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("returned after %s", d)
	}
	// A command that stops in time keeps its own result.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if err := runInterruptible(ctx, func() error { return nil }); err != nil {
		t.Errorf("command that stopped: %v", err)
	}
}

// The pauses before reading a half-written token file again end with the
// signal.
func TestReadTokenFilePauseInterrupted(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tokens.json")
	os.WriteFile(p, []byte(`{"token": {"refresh_`), 0o600)
	pauses := rereadPauses
	rereadPauses = []time.Duration{time.Hour}
	defer func() { rereadPauses = pauses }()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	var err error
	noHang(t, 10*time.Second, nil, func() { _, err = readTokenFile(ctx, p, discard()) })
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("err = %v, want interrupted", err)
	}
}

// SIGTERM to a real process stuck in the write (a hung disk, simulated by a
// write step that ignores every signal): it exits 75 within the grace, and
// the token file is as it was.
func TestSIGTERMEndsStuckProcess(t *testing.T) {
	r := newRig(t, harness.SchwabConfig{})
	before := mustRead(t, r.tokens)
	cmd := exec.Command(os.Args[0], "run", "--token-file", r.tokens, "--app-config", r.app, "--token-url", r.url,
		"--socket", r.sock, "--log-file=", "--force")
	cmd.Env = append(os.Environ(), childEnv+"=1", stickAtEnv+"=before-rename")
	var errb testutil.SyncBuffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Wait for the run to reach the write, then stop it as systemd would.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(errb.String(), "stuck at before-rename") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(interruptGrace + 10*time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("still running %s after SIGTERM:\n%s", interruptGrace+10*time.Second, errb.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != exit.TempFail {
		t.Errorf("exit %d, want 75:\n%s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "interrupted: did not stop within") {
		t.Errorf("stderr lacks the reason:\n%s", errb.String())
	}
	if !bytes.Equal(mustRead(t, r.tokens), before) {
		t.Error("token file changed")
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

// status warns about a token directory that others may write to.
func TestStatusWarnsWritableDirectory(t *testing.T) {
	dir := t.TempDir()
	p := tokens(t, dir, time.Now().Unix()+1200, time.Now().Unix()-3600)
	st := CheckStatus(context.Background(), StatusOptions{TokenFile: p})
	for _, w := range st.Warnings {
		if strings.Contains(w, "writable") {
			t.Errorf("warning for a private directory: %s", w)
		}
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	st = CheckStatus(context.Background(), StatusOptions{TokenFile: p})
	found := false
	for _, w := range st.Warnings {
		found = found || strings.Contains(w, "token file directory "+dir+" is writable by group or others")
	}
	if !found || st.ExitCode != exit.OK {
		t.Errorf("exit %d, warnings %q: want a warning about %s and exit 0", st.ExitCode, st.Warnings, dir)
	}
	// status follows run: it does not trust a symlinked lock either.
	os.Symlink(filepath.Join(dir, "elsewhere"), p+".lock")
	if ls := lockStatus(p); ls.State != LockUnknown {
		t.Errorf("symlinked lock: state %s, want unknown", ls.State)
	}
}

// What a run writes, the next run reads. A file of '<' characters (which
// json.Marshal would write as six-byte \u003c) and a file nested deep
// enough that indenting multiplies it both come back under the 1 MiB read
// cap; a file nested thousands deep is refused as it is read.
func TestWrittenFileReadsBack(t *testing.T) {
	lt := strings.Repeat("<", 150_000)
	deep := strings.Repeat("[", 30) + strings.TrimSuffix(strings.Repeat("1,", 20_000), ",") + strings.Repeat("]", 30)
	tests := []struct {
		name, unknown string
		compact       bool // the file is written compact, not indented
	}{
		{"key of '<'", `"` + lt + `": 1`, false},
		{"value of '<'", `"x": "` + lt + `&>"`, false},
		{"30 deep, 20,000 elements", `"x": ` + deep, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, harness.SchwabConfig{})
			before := []byte(`{"creation_timestamp": 1, "token": {"refresh_token": "` + rigRefreshToken + `", "expires_in": 1800, "expires_at": 1, ` + tt.unknown + `}}`)
			if len(before) > maxTokenFile {
				t.Fatalf("input of %d bytes is over the cap", len(before))
			}
			os.WriteFile(r.tokens, before, 0o600)
			var logs bytes.Buffer
			if _, err := Run(context.Background(), r.options(&logs)); err != nil {
				t.Fatalf("run: %v\n%s", err, logs.String())
			}
			after := mustRead(t, r.tokens)
			if len(after) > maxTokenFile || bytes.Contains(after, []byte(`\u003c`)) {
				t.Errorf("wrote %d bytes (escaped: %v), want at most %d, unescaped", len(after), bytes.Contains(after, []byte(`\u003c`)), maxTokenFile)
			}
			if got := bytes.HasPrefix(after, []byte(`{"`)); got != tt.compact {
				t.Errorf("written compact = %v, want %v", got, tt.compact)
			}
			f, err := ReadTokenFile(r.tokens, discard())
			if err != nil {
				t.Fatalf("the next run cannot read what this one wrote: %v", err)
			}
			if f.Token.AccessToken == "" || bytes.Count(after, []byte("<")) != bytes.Count(before, []byte("<")) {
				t.Errorf("refresh or unknown field lost")
			}
		})
	}
}

// A value nested 3,000 deep (36 MB once indented) is refused as it is
// read: exit 65, no request, the file as it was.
func TestDeepTokenFileRefused(t *testing.T) {
	r := newRig(t, harness.SchwabConfig{})
	prefix := `{"token": {"refresh_token": "` + rigRefreshToken + `", "x": `
	before := []byte(prefix + strings.Repeat("[", 3000) + strings.Repeat("]", 3000) + `}}`)
	os.WriteFile(r.tokens, before, 0o600)
	_, err := Run(context.Background(), r.options(&bytes.Buffer{}))
	// The 33rd level: "token" is the 2nd, the 31st bracket the 33rd.
	want := fmt.Sprintf("nested more than 32 levels deep at byte %d", len(prefix)+31)
	if exit.Code(err) != exit.Data || !strings.Contains(err.Error(), want) {
		t.Errorf("exit %d (%v), want 65 naming the depth and offset", exit.Code(err), err)
	}
	if n := r.schwab.Requests(); n != 0 {
		t.Errorf("%d requests, want 0", n)
	}
	if !bytes.Equal(mustRead(t, r.tokens), before) {
		t.Error("token file changed")
	}
	// Brackets in strings, after an escaped quote too, are not nesting.
	ok := []byte(`{"token": {"refresh_token": "RT", "x": "\\\"` + strings.Repeat("[", 3000) + `\"{"}}`)
	if _, err := ParseTokenFile(ok); err != nil {
		t.Errorf("brackets in a string: %v", err)
	}
}

// A write past the cap is refused and the old file kept: a file the next
// run refuses would stop the timer's loop until someone edits it.
func TestWriteFileRefusesOverCap(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tokens.json")
	os.WriteFile(p, []byte("old"), 0o600)
	err := WriteFile(p, bytes.Repeat([]byte(" "), maxTokenFile+1))
	if err == nil || !strings.Contains(err.Error(), "over the 1 MiB that a run reads back") {
		t.Errorf("err = %v, want a refusal", err)
	}
	if got := mustRead(t, p); string(got) != "old" {
		t.Errorf("old file replaced by %d bytes", len(got))
	}
	assertNoTemps(t, filepath.Dir(p))
	if err := WriteFile(p, bytes.Repeat([]byte(" "), maxTokenFile)); err != nil {
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

// A file at the cap that the refresh's new fields push past it is not
// written, however compact: exit 73 with a hint, the old file kept, and
// the new token still goes to the bot.
func TestRunRefusesWriteOverCap(t *testing.T) {
	r := newRig(t, harness.SchwabConfig{})
	head := `{"creation_timestamp":1,"token":{"refresh_token":"` + rigRefreshToken + `","expires_in":1800,"expires_at":1,"x":"`
	before := []byte(head + strings.Repeat("p", maxTokenFile-len(head)-3) + `"}}`)
	if len(before) != maxTokenFile {
		t.Fatalf("input is %d bytes", len(before))
	}
	os.WriteFile(r.tokens, before, 0o600)
	var logs bytes.Buffer
	_, err := Run(context.Background(), r.options(&logs))
	if exit.Code(err) != exit.CantCreate || !strings.Contains(err.Error(), "over the 1 MiB that a run reads back") || !strings.Contains(exit.Hint(err), "unknown fields too big") {
		t.Errorf("exit %d (%v, hint %q), want 73 with the size hint", exit.Code(err), err, exit.Hint(err))
	}
	if !bytes.Equal(mustRead(t, r.tokens), before) {
		t.Error("token file changed")
	}
	if !strings.Contains(logs.String(), "Bot socket not found") {
		t.Errorf("no delivery attempted:\n%s", logs.String())
	}
	assertNoTemps(t, r.dir)
}
