package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/harness"
)

// The deployment, sped up: one minute of it is one second here. Schwab's
// 30-minute tokens become 30 s tokens from bot-sim, the 25-minute timer
// ticks every 25 s, RestartSec=60 waits 1 s, and the outage lasts 10 s.
const scale = 60

// The timeline of each scenario, from its first tick.
const (
	tokenLife   = 30 * time.Second
	outageStart = 21 * time.Second // before the tick at 25 s
	outageEnd   = 31 * time.Second // after every attempt of that tick's run (by 29.5 s)
)

// failingRun bounds one run that fails through the outage: three requests
// answered at once with 503, with refresh-token's backoff between them
// (0.5-1.5 s, then 1-3 s), plus the start of the process. It is not scaled:
// refresh-token's own retries keep their real timing.
const failingRun = 5 * time.Second

// expiresAtSlack covers expires_at being whole seconds.
const expiresAtSlack = time.Second

const (
	appKey       = "demoappkey0123456789"
	appSecret    = "demoappsecret0123"
	refreshToken = "demo-refresh-token-0123456789"
)

// TestAcceleratedRetry proves the retry policy the deployment ships, with
// the real binaries: refresh-token.service's Restart= settings and timer
// read from systemd/, and the cron line from systemd/crontab run by sh. A
// third scenario, without retries, is the seed's timer: it must break the
// promise, so that the check is known to catch the flaw it is about.
func TestAcceleratedRetry(t *testing.T) {
	if os.Getenv("RTTEST_E2E") == "" {
		t.Skip("the accelerated end-to-end test takes about a minute: run make e2e (RTTEST_E2E=1)")
	}
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh to run the cron line")
	}
	bin := buildBinaries(t)
	unit := loadUnit(t, "../systemd/refresh-token.service", "../systemd/refresh-token.timer")
	cronCmd := loadCron(t, "../systemd/crontab")
	retry := unit.RestartDelay + failingRun + expiresAtSlack

	// The scenarios run side by side, whatever go test's -parallel says.
	var wg sync.WaitGroup
	defer wg.Wait()
	scenario := func(name string, f func(t *testing.T)) {
		wg.Add(1)
		go func() { defer wg.Done(); t.Run(name, f) }()
	}

	scenario("systemd", func(t *testing.T) {
		s := startScenario(t, bin)
		runs := s.runTimer(t, unit, 3)
		s.finish(t, 3)
		restarts, temp := 0, 0
		for _, r := range runs {
			if r.restart {
				restarts++
			}
			if r.code == 75 {
				temp++
			}
		}
		if temp == 0 || restarts == 0 {
			t.Errorf("%d runs exited 75 and %d restarts: the outage did not exercise the retry", temp, restarts)
		}
		s.report(t, retry)
		for _, p := range checkHeld(s.spans, s.outage, retry) {
			t.Error(p)
		}
	})

	scenario("cron", func(t *testing.T) {
		s := startScenario(t, bin)
		mail := s.runCron(t, cronCmd, unit.RestartDelay, []time.Duration{0, 25 * time.Second, 50 * time.Second, 60 * time.Second})
		s.finish(t, 4)
		if mail != "" {
			t.Errorf("cron would have mailed, though every failure was retried away:\n%s", mail)
		}
		logged, err := os.ReadFile(filepath.Join(s.dir, "logs", "token_refresh_sender.log"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(logged, []byte("exit=75")) {
			t.Errorf("no run exited 75: the outage did not exercise the retry loop; log:\n%s", logged)
		}
		s.report(t, retry)
		for _, p := range checkHeld(s.spans, s.outage, retry) {
			t.Error(p)
		}
	})

	scenario("seed without retry", func(t *testing.T) {
		s := startScenario(t, bin)
		noRetry := unit
		noRetry.Restart = false
		runs := s.runTimer(t, noRetry, 3)
		s.finish(t, 2)
		s.report(t, retry)
		if len(runs) != 3 || runs[1].code != 75 {
			t.Fatalf("runs = %+v, want the second of three to exit 75", runs)
		}
		if problems := checkHeld(s.spans, s.outage, retry); len(problems) < 2 {
			t.Errorf("without retries the bot should hold an expired token until the next tick, breaking both promises; got %q", problems)
		}
	})
}

type binaries struct {
	refreshToken, botSim string
}

func buildBinaries(t *testing.T) binaries {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the binaries")
	}
	dir := t.TempDir()
	b := binaries{filepath.Join(dir, "refresh-token"), filepath.Join(dir, "bot-sim")}
	for path, pkg := range map[string]string{b.refreshToken: "./cmd/refresh-token", b.botSim: "./cmd/bot-sim"} {
		cmd := exec.Command(goBin, "build", "-o", path, pkg)
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	return b
}

// unit is what the test takes from the shipped units, scaled down.
type unit struct {
	Argv         []string
	Period       time.Duration // OnUnitActiveSec=
	Restart      bool          // Restart=on-failure
	RestartDelay time.Duration
	Prevent      map[int]bool // RestartPreventExitStatus=
	Timeout      time.Duration
	LimitWindow  time.Duration // StartLimitIntervalSec=
	LimitBurst   int
}

func loadUnit(t *testing.T, service, timer string) unit {
	t.Helper()
	sv, tm := readUnit(t, service), readUnit(t, timer)
	one := func(m map[string][]string, key string) string {
		v := m[key]
		if len(v) == 0 {
			t.Fatalf("no %s= in the units", key)
		}
		return v[len(v)-1]
	}
	span := func(m map[string][]string, key string) time.Duration {
		d, err := parseSpan(one(m, key))
		if err != nil {
			t.Fatalf("%s=: %v", key, err)
		}
		return d / scale
	}
	u := unit{
		Argv:         strings.Fields(one(sv, "ExecStart")),
		Period:       span(tm, "OnUnitActiveSec"),
		Restart:      one(sv, "Restart") == "on-failure",
		RestartDelay: span(sv, "RestartSec"),
		Prevent:      map[int]bool{},
		Timeout:      span(sv, "TimeoutStartSec"),
		LimitWindow:  span(sv, "StartLimitIntervalSec"),
	}
	var err error
	if u.LimitBurst, err = strconv.Atoi(one(sv, "StartLimitBurst")); err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(one(sv, "RestartPreventExitStatus")) {
		code, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("RestartPreventExitStatus=: %v", err)
		}
		u.Prevent[code] = true
	}
	if !u.Restart || u.Prevent[75] {
		t.Fatalf("the unit does not retry exit 75: Restart=%v, prevented %v", u.Restart, u.Prevent)
	}
	if u.Period != 25*time.Second {
		t.Fatalf("the timer ticks every %s (scaled), want 25 s", u.Period)
	}
	return u
}

// readUnit reads key=value lines of a unit file, all sections together.
func readUnit(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' || l[0] == ';' || l[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("%s: bad line %q", path, l)
		}
		m[k] = append(m[k], v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

// parseSpan reads a systemd time span such as 60, 90s, 25min or 1h.
func parseSpan(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	for _, u := range []struct {
		suffix string
		d      time.Duration
	}{{"min", time.Minute}, {"ms", time.Millisecond}, {"s", time.Second}, {"h", time.Hour}, {"", time.Second}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.Atoi(n)
			if err != nil {
				return 0, fmt.Errorf("time span %q: %w", s, err)
			}
			return time.Duration(v) * u.d, nil
		}
	}
	return 0, fmt.Errorf("time span %q", s)
}

// loadCron returns the command of the crontab's */25 line.
func loadCron(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(l, "*/25 ") {
			continue
		}
		// Five time fields and the user, then the command.
		rest := l
		for range 6 {
			rest = strings.TrimLeft(rest, " \t")
			i := strings.IndexAny(rest, " \t")
			if i < 0 {
				t.Fatalf("short cron line %q", l)
			}
			rest = rest[i:]
		}
		cmd := strings.TrimSpace(rest)
		if strings.Contains(cmd, "%") {
			t.Fatalf("cron line has a %% (a newline to cron): %q", cmd)
		}
		return cmd
	}
	t.Fatalf("%s: no */25 line", path)
	return ""
}

// scenario is one bot-sim pair and a working directory with the configs.
type scenario struct {
	dir, env, url string
	bin           binaries
	t0            time.Time
	outage        outage
	schwab, bot   *exec.Cmd
	spans         []span
	records       []harness.Received
	requests      int
}

func startScenario(t *testing.T, bin binaries) *scenario {
	t.Helper()
	s := &scenario{dir: t.TempDir(), bin: bin}
	configs := filepath.Join(s.dir, "configs")
	if err := os.Mkdir(configs, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"schwab_tokens.json", "schwab_app_config.yaml"} {
		data, err := os.ReadFile(filepath.Join("..", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(configs, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	s.schwab = start(t, s.dir, bin.botSim, "schwab", "--app-key", appKey, "--app-secret", appSecret,
		"--refresh-token", refreshToken, "--expires-in", strconv.Itoa(int(tokenLife/time.Second)), "--url-file", "url")
	s.bot = start(t, s.dir, bin.botSim, "receive", "--socket", "bot.sock", "--record", "record.jsonl", "--ready-file", "ready")
	s.url = strings.TrimSpace(waitFile(t, filepath.Join(s.dir, "url")))
	waitFile(t, filepath.Join(s.dir, "ready"))

	// The environment file, in the format of /etc/default/refresh-token,
	// read by both the unit scenario and the cron line.
	s.env = filepath.Join(s.dir, "refresh-token.env")
	env := strings.Join([]string{
		"REFRESH_TOKEN_TOKEN_FILE=" + filepath.Join(configs, "schwab_tokens.json"),
		"REFRESH_TOKEN_APP_CONFIG=" + filepath.Join(configs, "schwab_app_config.yaml"),
		"REFRESH_TOKEN_SOCKET=" + filepath.Join(s.dir, "bot.sock"),
		"REFRESH_TOKEN_TOKEN_URL=" + s.url,
		// The guard that skips a token issued less than 60 s ago does not
		// scale: runs 25 s apart would all skip. Real runs are 25 minutes
		// apart and never meet it.
		"REFRESH_TOKEN_FORCE=true",
		"",
	}, "\n")
	if err := os.WriteFile(s.env, []byte(env), 0o644); err != nil {
		t.Fatal(err)
	}

	s.t0 = time.Now()
	s.outage = outage{From: s.t0.Add(outageStart), To: s.t0.Add(outageEnd)}
	control := strings.Replace(s.url, harness.TokenPath, "/control/modes", 1)
	setModes := func(modes string) {
		resp, err := http.Post(control, "text/plain", strings.NewReader(modes))
		if err != nil {
			t.Errorf("set modes %s: %v", modes, err)
			return
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("set modes %s: %s", modes, resp.Status)
		}
	}
	outageOn := time.AfterFunc(outageStart, func() { setModes("503") })
	outageOff := time.AfterFunc(outageEnd, func() { setModes("ok") })
	t.Cleanup(func() { outageOn.Stop(); outageOff.Stop() })
	return s
}

func start(t *testing.T, dir, bin string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := false
	t.Cleanup(func() {
		if !done {
			stop(cmd)
		}
		if t.Failed() {
			t.Logf("%s %s:\n%s", filepath.Base(bin), args[0], out.String())
		}
	})
	return cmd
}

func stop(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

func waitFile(t *testing.T, path string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, err := os.ReadFile(path)
		if err == nil && len(data) > 0 {
			return string(data)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// childEnv is the environment of the processes the test starts: the test's
// own, less anything that would change refresh-token's behaviour.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "REFRESH_TOKEN_") || strings.HasPrefix(kv, "JOURNAL_STREAM=") ||
			strings.HasPrefix(kv, "CREDENTIALS_DIRECTORY=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// envFile reads KEY=value lines as systemd's EnvironmentFile= does for
// this simple file.
func envFile(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && l[0] != '#' {
			env = append(env, l)
		}
	}
	return env
}

// run is one start of the service.
type run struct {
	at      time.Duration // since the first tick
	took    time.Duration
	code    int  // -1: killed by the start timeout
	restart bool // started by Restart=, not by the timer
}

// runTimer plays systemd: a tick every Period from the first, the service
// started at each tick, and, with Restart=, started again RestartSec after a
// failure whose exit code RestartPreventExitStatus= does not list, within
// the start limit. A tick that comes while the service is still activating
// (running or waiting to restart) merges with it, as a start job does.
func (s *scenario) runTimer(t *testing.T, u unit, ticks int) []run {
	t.Helper()
	argv := append([]string(nil), u.Argv...)
	if !strings.HasSuffix(argv[0], "/refresh-token") {
		t.Fatalf("ExecStart= runs %s, want refresh-token", argv[0])
	}
	env := childEnv(envFile(t, s.env)...)
	var runs []run
	var window time.Time
	starts := 0
	allow := func(now time.Time) bool { // systemd's ratelimit_below()
		if window.IsZero() || now.Sub(window) > u.LimitWindow {
			window, starts = now, 0
		}
		starts++
		return starts <= u.LimitBurst
	}
	next := s.t0
	for tick := 0; tick < ticks; tick++ {
		time.Sleep(time.Until(next))
		trigger := time.Now()
		isRestart := false
		for {
			now := time.Now()
			if !allow(now) {
				t.Logf("start limit hit at %s", now.Sub(s.t0).Round(time.Millisecond))
				break
			}
			code, took, out := s.exec(u.Timeout, env, argv[1:]...)
			r := run{at: now.Sub(s.t0), took: took, code: code, restart: isRestart}
			runs = append(runs, r)
			t.Logf("run at %6.2fs took %5.2fs: exit %d%s", r.at.Seconds(), took.Seconds(), code, map[bool]string{true: " (restart)"}[isRestart])
			if code != 0 {
				t.Logf("its log:\n%s", out)
			}
			if code == 0 || !u.Restart || u.Prevent[code] {
				break
			}
			time.Sleep(u.RestartDelay)
			isRestart = true
		}
		next = trigger.Add(u.Period)
	}
	return runs
}

// exec runs one refresh-token process in the scenario's directory.
func (s *scenario) exec(timeout time.Duration, env []string, args ...string) (code int, took time.Duration, out string) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin.refreshToken, args...)
	cmd.Dir = s.dir
	cmd.Env = env
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	start := time.Now()
	err := cmd.Run()
	took = time.Since(start)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, took, b.String()
	case ctx.Err() != nil:
		return -1, took, b.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), took, b.String()
	}
	return -1, took, b.String() + err.Error()
}

// runCron plays cron: at each offset it starts the crontab's command with
// sh, not waiting for the previous one, with paths pointed at the scenario
// and the retry loop's sleep scaled down. It returns what cron would mail.
func (s *scenario) runCron(t *testing.T, line string, restartDelay time.Duration, at []time.Duration) string {
	t.Helper()
	cmd := line
	for _, r := range []struct{ from, to string }{
		{"cd /opt/bigbrother", "cd " + s.dir},
		{"/etc/default/refresh-token", s.env},
		{"/usr/local/bin/refresh-token", s.bin.refreshToken},
		{"sleep 60", "sleep " + strconv.Itoa(int(restartDelay/time.Second))},
	} {
		if !strings.Contains(cmd, r.from) {
			t.Fatalf("the cron line has no %q to point at the test: %s", r.from, line)
		}
		cmd = strings.ReplaceAll(cmd, r.from, r.to)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var mail strings.Builder
	for _, off := range at {
		time.Sleep(time.Until(s.t0.Add(off)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := exec.Command("sh", "-c", cmd)
			c.Dir = "/"
			c.Env = childEnv()
			out, err := c.CombinedOutput()
			mu.Lock()
			defer mu.Unlock()
			t.Logf("cron job of %5.2fs ended at %6.2fs: %v", off.Seconds(), time.Since(s.t0).Seconds(), errOr(err, "exit 0"))
			if len(out) > 0 || err != nil {
				fmt.Fprintf(&mail, "job of %s (%v):\n%s", off, err, out)
			}
		}()
	}
	wg.Wait()
	return mail.String()
}

func errOr(err error, ok string) string {
	if err != nil {
		return err.Error()
	}
	return ok
}

// finish stops the bot and reads what it received: at least want valid
// tokens, the last one the token file's.
func (s *scenario) finish(t *testing.T, want int) {
	t.Helper()
	end := time.Now()
	resp, err := http.Get(strings.Replace(s.url, harness.TokenPath, "/control/requests", 1))
	if err == nil {
		var n int
		fmt.Fscan(resp.Body, &n)
		resp.Body.Close()
		s.requests = n
	}
	stop(s.bot)
	f, err := os.Open(filepath.Join(s.dir, "record.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	for {
		var r harness.Received
		if err := dec.Decode(&r); err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("record: %v", err)
			}
			break
		}
		s.records = append(s.records, r)
	}
	s.spans = expiredSpans(s.records, end)

	valid := 0
	for _, r := range s.records {
		if r.OK {
			valid++
		}
	}
	if valid < want {
		t.Errorf("the bot got %d valid tokens, want at least %d", valid, want)
	}
	// The file and the bot end with the same token.
	data, err := os.ReadFile(filepath.Join(s.dir, "configs", "schwab_tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Token struct {
			AccessToken string `json:"access_token"`
		} `json:"token"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	if last := s.records[len(s.records)-1]; last.AccessToken != file.Token.AccessToken {
		t.Errorf("the bot's last token %s is not the file's %s", harness.Redact(last.AccessToken), harness.Redact(file.Token.AccessToken))
	}
}

// report logs the numbers of the scenario.
func (s *scenario) report(t *testing.T, retry time.Duration) {
	t.Helper()
	var longest time.Duration
	for _, sp := range s.spans {
		longest = max(longest, sp.Len())
		t.Logf("bot held an expired token from %5.2fs to %5.2fs (%s)",
			sp.From.Sub(s.t0).Seconds(), sp.To.Sub(s.t0).Seconds(), sp.Len().Round(time.Millisecond))
	}
	t.Logf("outage %s (%.0fs to %.0fs), one retry %s: bound %s; longest expired hold %s; %d messages, %d token requests",
		s.outage.Len(), outageStart.Seconds(), outageEnd.Seconds(), retry, s.outage.Len()+retry,
		longest.Round(time.Millisecond), len(s.records), s.requests)
}
