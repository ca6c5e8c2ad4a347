package refresh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/refresh-token/refresh-token/harness"
	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/testutil"
)

// Tests that kill the mutants gremlins found alive (docs/RELIABILITY.md,
// "Mutation testing"): each pins a promise no other test checked.

// recordFsyncs replaces fsync for the test: each call is described by what
// it syncs and what the temp file and the token file hold at that moment,
// then fails with fail(f) or really syncs.
func recordFsyncs(t *testing.T, path string, fail func(f *os.File) error) *[]string {
	t.Helper()
	real := fsync
	t.Cleanup(func() { fsync = real })
	var events []string
	fsync = func(f *os.File) error {
		st, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		target, _ := os.ReadFile(path)
		if st.IsDir() {
			events = append(events, fmt.Sprintf("fsync dir %s; token file %q", filepath.Clean(f.Name()), target))
		} else {
			content, _ := os.ReadFile(f.Name())
			name := strings.TrimPrefix(f.Name(), path+tempMark)
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
	if err := WriteFile(path, []byte("new data")); err != nil {
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
	err := WriteFile(path, []byte("new data"))
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
	err := WriteFile(path, []byte("new data"))
	if !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), "fsync directory") {
		t.Errorf("err = %v, want the directory's fsync error", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "new data" {
		t.Errorf("token file = %q, want the new data in place", got)
	}
	assertNoTemps(t, dir)
}

// A good refresh whose token file cannot be written exits 73 from run, the
// old file intact, and the bot still gets the new token.
func TestRunWriteFailureExits73AndDelivers(t *testing.T) {
	c := newCycle(t)
	before, err := os.ReadFile(c.tokens)
	if err != nil {
		t.Fatal(err)
	}
	recordFsyncs(t, c.tokens, func(*os.File) error { return syscall.ENOSPC })
	var out, errb bytes.Buffer
	bot, sock := startBot(t)
	code := Main(Build{}, []string{"--log-file=", "--token-file", c.tokens, "--socket", sock, "--retries", "1",
		"run", "--app-config", c.app, "--token-url", c.url, "--force"}, &out, &errb)
	if code != exit.CantCreate {
		t.Errorf("exit %d, want 73\n%s", code, errb.String())
	}
	if !strings.Contains(errb.String(), `ERROR: token file could not be written: fsync `) ||
		!strings.Contains(errb.String(), `no space left on device hint="check free space and that the directory is writable; the old file is intact" exit=73`) {
		t.Errorf("stderr lacks the ERROR line of exit 73:\n%s", errb.String())
	}
	if after, _ := os.ReadFile(c.tokens); !bytes.Equal(before, after) {
		t.Errorf("token file changed:\n%s", after)
	}
	msg, ok := bot.Current()
	if !ok || !strings.HasPrefix(msg.AccessToken, "AT-") || bytes.Contains(before, []byte(msg.AccessToken)) || msg.ExpiresAt <= time.Now().Unix() {
		t.Errorf("bot holds %+v (ok %v), want the new token", msg, ok)
	}
	if c.schwab.Requests() != 1 {
		t.Errorf("%d token requests, want 1", c.schwab.Requests())
	}
}

// startBot serves a bot receiver on a socket of its own until the test ends.
func startBot(t *testing.T) (*harness.Receiver, string) {
	t.Helper()
	bot := &harness.Receiver{Path: filepath.Join(testutil.ShortTempDir(t), "bot.sock")}
	if err := bot.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { bot.Serve(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return bot, bot.Path
}

// The guards at their exact boundaries: issued 60 s ago is refreshed, 59 s
// is skipped; a lifetime of exactly a day is believed, a second more is
// not; --if-expires-within refreshes a token expiring exactly then and
// skips one a second later; an issue time up to 60 s ahead is clock skew.
func TestSkipBoundaries(t *testing.T) {
	now := timeNow
	at := func(issuedAgo, lifetime time.Duration) Token {
		return Token{ExpiresAt: now.Add(-issuedAgo + lifetime).Unix(), ExpiresIn: int64(lifetime / time.Second), RefreshToken: "RT"}
	}
	const day = 24 * time.Hour
	tests := []struct {
		name   string
		tok    Token
		within time.Duration
		force  bool
		skip   string
		warn   string
	}{
		{name: "issued 59 s ago", tok: at(59*time.Second, 30*time.Minute), skip: "access token was issued 59 seconds ago, by another run"},
		{name: "issued 60 s ago", tok: at(60*time.Second, 30*time.Minute)},
		{name: "issued 59 s ago, --force", tok: at(59*time.Second, 30*time.Minute), force: true},
		{name: "issued 60 s ahead: skew", tok: at(-60*time.Second, 30*time.Minute), skip: "access token was issued 0 seconds ago, by another run"},
		{name: "issued 61 s ahead: clock moved", tok: at(-61*time.Second, 30*time.Minute),
			warn: "Access token claims to be issued 61 seconds from now (clock moved backwards?); refreshing"},
		{name: "lives exactly a day more", tok: at(time.Minute, day+time.Minute), within: 10 * time.Minute,
			skip: "access token expires in 24.0 hours, later than --if-expires-within 10m0s"},
		{name: "lives a day and a second more", tok: at(time.Minute, day+time.Minute+time.Second), within: 10 * time.Minute,
			warn: "Access token claims to live 24.0 hours more, longer than any Schwab token; refreshing"},
		{name: "expires exactly at --if-expires-within", tok: at(20*time.Minute, 30*time.Minute), within: 10 * time.Minute},
		{name: "expires a second after --if-expires-within", tok: at(20*time.Minute-time.Second, 30*time.Minute), within: 10 * time.Minute,
			skip: "access token expires in 10 minutes, later than --if-expires-within 10m0s"},
		{name: "--if-expires-within 0 refreshes", tok: at(2*time.Minute, 30*time.Minute)},
		{name: "expires a second after --if-expires-within, --force", tok: at(20*time.Minute-time.Second, 30*time.Minute), within: 10 * time.Minute, force: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			o := Options{Log: slog.New(slog.NewTextHandler(&logs, nil)), IfExpiresWithin: tt.within, Force: tt.force}
			if got := skip(tt.tok, now, o); got != tt.skip {
				t.Errorf("skip = %q, want %q", got, tt.skip)
			}
			if tt.warn == "" && logs.Len() > 0 || !strings.Contains(logs.String(), tt.warn) {
				t.Errorf("log = %q, want %q", logs.String(), tt.warn)
			}
		})
	}
}

// The 7-day warning from exactly 6.5 days; a creation_timestamp up to 60 s
// ahead is clock skew, not "in the future".
func TestLoginAgeBoundaries(t *testing.T) {
	now := timeNow
	tests := []struct {
		name    string
		created int64
		warn    string
	}{
		{"6.5 days less a second", now.Add(-loginWarnAge + time.Second).Unix(), ""},
		{"exactly 6.5 days", now.Add(-loginWarnAge).Unix(), "WARN msg=\"Refresh token is 6.5 days old: Schwab expires it after about 7 days; run 'refresh-token login' soon\""},
		{"just now", now.Unix(), ""},
		{"30 s ago", now.Add(-30 * time.Second).Unix(), ""},
		{"30 s ahead", now.Add(30 * time.Second).Unix(), ""},
		{"60 s ahead", now.Add(60 * time.Second).Unix(), ""},
		{"61 s ahead", now.Add(61 * time.Second).Unix(), "creation_timestamp is 61 seconds in the future (clock moved backwards?)"},
		{"none", 0, "Token file has no creation_timestamp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			warnLoginAge(&TokenFile{CreationTimestamp: tt.created}, now, slog.New(slog.NewTextHandler(&logs, nil)))
			if tt.warn == "" && logs.Len() > 0 || !strings.Contains(logs.String(), tt.warn) {
				t.Errorf("log = %q, want %q", logs.String(), tt.warn)
			}
		})
	}
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
			if err := WriteFile(p, []byte("new")); err != nil {
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

// --version takes what the linker stamped, else the module version and the
// VCS revision that go build records, else "devel" and "unknown".
func TestBuildDescribe(t *testing.T) {
	info := &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.time", Value: "2026-12-01T00:00:00Z"}, {Key: "vcs.revision", Value: "abc123"},
	}}
	gov := runtime.Version()
	for _, tt := range []struct {
		name string
		b    Build
		info *debug.BuildInfo
		ok   bool
		want string
	}{
		{"stamped", Build{"v9", "fff"}, info, true, "refresh-token v9 (commit fff, " + gov + ")"},
		{"from the build info", Build{}, info, true, "refresh-token v1.2.3 (commit abc123, " + gov + ")"},
		{"stamped version, recorded commit", Build{Version: "v9"}, info, true, "refresh-token v9 (commit abc123, " + gov + ")"},
		{"(devel)", Build{}, &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, true, "refresh-token devel (commit unknown, " + gov + ")"},
		{"empty version", Build{}, &debug.BuildInfo{}, true, "refresh-token devel (commit unknown, " + gov + ")"},
		{"no build info", Build{}, nil, false, "refresh-token devel (commit unknown, " + gov + ")"},
	} {
		if got := tt.b.describe(tt.info, tt.ok); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// A metrics file that cannot be written is a warning, and only then: the
// run's exit code is the refresh's.
func TestMetricsWriteFailureWarns(t *testing.T) {
	c := newCycle(t)
	for _, tt := range []struct {
		path string
		warn bool
	}{
		{filepath.Join(c.dir, "metrics.prom"), false},
		{filepath.Join(c.dir, "missing", "metrics.prom"), true},
	} {
		var out, errb bytes.Buffer
		code := Main(Build{}, []string{"--log-file=", "--token-file", c.tokens, "--socket", c.sock, "--retries", "1",
			"run", "--app-config", c.app, "--token-url", c.url, "--force", "--metrics-file", tt.path}, &out, &errb)
		if code != 0 {
			t.Errorf("%s: exit %d, want 0", tt.path, code)
		}
		if warned := strings.Contains(errb.String(), "WARN: Cannot write metrics file "+tt.path+": "); warned != tt.warn {
			t.Errorf("%s: warned %v, want %v\n%s", tt.path, warned, tt.warn, errb.String())
		}
	}
}

// SIGTERM while the token request hangs ends the run at once, and the
// ERROR line says the run was interrupted rather than the endpoint failed.
func TestSIGTERMSaysInterrupted(t *testing.T) {
	r := newRig(t, harness.SchwabConfig{ExpiresIn: 1800, Modes: []harness.Mode{harness.ModeHang}})
	before := mustRead(t, r.tokens)
	c := r.start(t, "", "--force", "--http-timeout", "1m")
	for deadline := time.Now().Add(time.Minute); r.schwab.Requests() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) { // a safety net, not a measure
			c.cmd.Process.Kill()
			t.Fatalf("no token request within a minute:\n%s", c.stderr.String())
		}
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	code := c.wait(t)
	if code != exit.TempFail || !strings.Contains(c.stderr.String(), "ERROR: interrupted: refresh token: ") {
		t.Errorf("exit %d, want 75 with an ERROR line that says interrupted:\n%s", code, c.stderr.String())
	}
	if got := mustRead(t, r.tokens); !bytes.Equal(got, before) {
		t.Errorf("token file changed:\n%s", got)
	}
}

// --retry-delay 0 means no pause between delivery attempts, not deliver's
// 5 s default; any other value is passed on as it is.
func TestPushRetryDelay(t *testing.T) {
	for _, tt := range []struct {
		delay time.Duration
		want  string
	}{
		{0, "retrying in 0s"},
		{time.Millisecond, "retrying in 1ms"},
	} {
		bot := &harness.Receiver{Path: filepath.Join(testutil.ShortTempDir(t), "bot.sock"), Ack: "ERROR"}
		if err := bot.Listen(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() { bot.Serve(ctx) })
		var logs bytes.Buffer
		ok, err := push(context.Background(), Token{AccessToken: "AT", RefreshToken: "RT", ExpiresAt: 1},
			Delivery{Sockets: []string{bot.Path}, Retries: 2, RetryDelay: tt.delay, Timeout: 10 * time.Second},
			slog.New(slog.NewTextHandler(&logs, nil)))
		cancel()
		wg.Wait()
		if ok || err != nil || !strings.Contains(logs.String(), tt.want) {
			t.Errorf("--retry-delay %v: ok %v, err %v, want a WARN %q:\n%s", tt.delay, ok, err, tt.want, logs.String())
		}
	}
}

// A refresh delivered to the bot, with metrics, logs no WARN or ERROR: no
// warning that fires on success (releasing the lock, writing metrics).
func TestCleanRunWarnsOfNothing(t *testing.T) {
	c := newCycle(t)
	var out, errb bytes.Buffer
	code := Main(Build{}, []string{"--log-file=", "--token-file", c.tokens, "--socket", c.sock, "--retries", "1",
		"run", "--app-config", c.app, "--token-url", c.url, "--force", "--metrics-file", filepath.Join(c.dir, "m.prom")}, &out, &errb)
	if code != 0 || strings.Contains(errb.String(), "WARN") || strings.Contains(errb.String(), "ERROR") ||
		!strings.Contains(errb.String(), "Token successfully sent to trading bot") {
		t.Errorf("exit %d:\n%s", code, errb.String())
	}
}

// status at the exact ends: an access token expiring this second is
// expired (75); a refresh token exactly 7 days old is past the limit (77).
func TestStatusAtExactExpiry(t *testing.T) {
	now := statusNow.Unix()
	for _, tt := range []struct {
		name             string
		expires, created int64
		code             int
		access, refresh  bool // expired
	}{
		{"access token expires now", now, now - 24*3600, exit.TempFail, true, false},
		{"access token expires in a second", now + 1, now - 24*3600, exit.OK, false, false},
		{"refresh token 7 days old", now + 1200, now - int64(refreshLifetime/time.Second), exit.NoPerm, false, true},
		{"refresh token a second short of 7 days", now + 1200, now - int64(refreshLifetime/time.Second) + 1, exit.OK, false, false},
	} {
		st := CheckStatus(t.Context(), StatusOptions{TokenFile: tokens(t, t.TempDir(), tt.expires, tt.created), Now: statusNow})
		if st.ExitCode != tt.code || st.AccessToken.Expired != tt.access || st.RefreshToken.Expired != tt.refresh {
			t.Errorf("%s: exit %d, expired %v/%v; want %d, %v/%v (%q)", tt.name, st.ExitCode,
				st.AccessToken.Expired, st.RefreshToken.Expired, tt.code, tt.access, tt.refresh, st.Problems)
		}
	}
}

// status reads a half-written token file as run does: again after a pause,
// logging why at debug level to the logger it is given, or to none.
func TestStatusLogsTheReread(t *testing.T) {
	old := rereadPauses
	rereadPauses = []time.Duration{time.Millisecond}
	t.Cleanup(func() { rereadPauses = old })
	p := filepath.Join(t.TempDir(), "tokens.json")
	os.WriteFile(p, []byte(`{"token": {"refresh_token": "RT`), 0o600)
	var logs bytes.Buffer
	st := CheckStatus(t.Context(), StatusOptions{TokenFile: p, Now: statusNow,
		Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if st.ExitCode != exit.Data || !strings.Contains(logs.String(), "reading it again in case a writer was mid-write") {
		t.Errorf("exit %d, log %q; want 65 and the re-read logged", st.ExitCode, logs.String())
	}
	if st := CheckStatus(t.Context(), StatusOptions{TokenFile: p, Now: statusNow}); st.ExitCode != exit.Data {
		t.Errorf("without a logger: exit %d, want 65", st.ExitCode)
	}
}

// The metrics file's temp file is made beside it, never in the working
// directory or $TMPDIR: both are made unusable here, and the write must
// still succeed, for a path with a directory and for a bare name.
func TestMetricsTempBesideTheFile(t *testing.T) {
	dir := t.TempDir()
	gone := t.TempDir()
	t.Setenv("TMPDIR", filepath.Join(gone, "nowhere"))
	t.Chdir(gone)
	if err := os.Remove(gone); err != nil { // the working directory no longer exists
		t.Fatal(err)
	}
	m := MetricsRun{TokenFile: filepath.Join(dir, "tokens.json"), End: timeNow}
	if err := WriteMetrics(filepath.Join(dir, "a.prom"), m); err != nil {
		t.Errorf("metrics file in a directory: %v", err)
	}
	t.Chdir(dir)
	if err := WriteMetrics("b.prom", m); err != nil {
		t.Errorf("metrics file in the working directory: %v", err)
	}
	for _, name := range []string{"a.prom", "b.prom"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
}

// A float at exactly -2^63 is the smallest int64, not out of range.
func TestIntFieldSmallestFloat(t *testing.T) {
	if n, err := intField([]byte("-9.223372036854775808e18")); err != nil || n != math.MinInt64 {
		t.Errorf("intField(-2^63 as a float) = %d, %v; want %d", n, err, int64(math.MinInt64))
	}
}
