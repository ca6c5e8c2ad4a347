// Command bench measures the whole refresh-token cycle as it ships: the
// static binary from `make build`, run against `bot-sim schwab` and
// `bot-sim receive` on loopback, next to one bare curl POST to the same
// endpoint, interleaved in the same run. It also measures what the binary
// does before main (GODEBUG=inittrace=1) and how bot-sim's receiver copes
// with many concurrent deliveries.
//
//	go run ./internal/bench -bin bin -n 100
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/refresh-token/refresh-token/deliver"
)

const (
	appKey       = "benchappkey0123456789"
	appSecret    = "benchappsecret0123"
	refreshToken = "bench-refresh-token-0123456789"
)

func main() {
	bin := flag.String("bin", "bin", "directory with the refresh-token and bot-sim binaries")
	n := flag.Int("n", 200, "measured cycles (and as many curl POSTs)")
	warm := flag.Int("warmup", 5, "unmeasured cycles first")
	dir := flag.String("dir", "", "work directory for the token file (default: a new temp dir); its file system decides what fsync costs")
	curl := flag.String("curl", "/usr/bin/curl", "curl binary to compare with")
	conc := flag.Int("concurrency", 32, "concurrent senders for the delivery benchmark")
	deliveries := flag.Int("deliveries", 2000, "deliveries for the delivery benchmark")
	flag.Parse()
	if err := run(*bin, *dir, *curl, *n, *warm, *conc, *deliveries); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(bin, dir, curl string, n, warm, conc, deliveries int) error {
	rt, err := filepath.Abs(filepath.Join(bin, "refresh-token"))
	if err != nil {
		return err
	}
	sim := filepath.Join(filepath.Dir(rt), "bot-sim")
	for _, p := range []string{rt, sim} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%w (run make build first)", err)
		}
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "rtbench"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	// Socket paths must stay short: 108 bytes of sun_path.
	sockDir, err := os.MkdirTemp("", "rtb")
	if err != nil {
		return err
	}
	defer os.RemoveAll(sockDir)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	urlFile := filepath.Join(dir, "url")
	schwab, err := start(ctx, sim, urlFile, "schwab", "--addr", "127.0.0.1:0",
		"--app-key", appKey, "--app-secret", appSecret, "--refresh-token", refreshToken, "--url-file", urlFile)
	if err != nil {
		return err
	}
	defer stop(schwab)
	sock := filepath.Join(sockDir, "bot.sock")
	ready := filepath.Join(dir, "ready")
	bot, err := start(ctx, sim, ready, "receive", "--socket", sock, "--ready-file", ready)
	if err != nil {
		return err
	}
	defer stop(bot)
	raw, _ := os.ReadFile(urlFile)
	url := strings.TrimSpace(string(raw))

	app := filepath.Join(dir, "schwab_app_config.yaml")
	if err := os.WriteFile(app, []byte("app_key: "+appKey+"\napp_secret: "+appSecret+"\n"), 0o600); err != nil {
		return err
	}
	tokens := filepath.Join(dir, "schwab_tokens.json")
	args := []string{"run", "--token-file", tokens, "--log-file", filepath.Join(dir, "logs", "refresh.log"),
		"--socket", sock, "--require-delivery", "--app-config", app, "--token-url", url}

	fmt.Printf("refresh-token end-to-end benchmark\n")
	fmt.Printf("  machine     %s/%s, %d CPUs, %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel())
	fmt.Printf("  token file  %s (%s)\n", dir, fsType(dir))
	fmt.Printf("  endpoint    %s (bot-sim schwab), bot %s (bot-sim receive)\n", url, sock)
	fmt.Printf("  binary      %s, %d bytes\n", filepath.Join(bin, "refresh-token"), size(rt))
	fmt.Printf("  cycle       refresh-token %s\n\n", strings.Join(args, " "))

	if err := inittrace(rt, tokens, args); err != nil {
		return err
	}

	cycle := func() (sample, error) {
		if err := freshTokens(tokens); err != nil {
			return sample{}, err
		}
		return measure(exec.Command(rt, args...))
	}
	post := func() (sample, error) {
		return measure(exec.Command(curl, "-sS", "-o", "/dev/null", "--fail",
			"-u", appKey+":"+appSecret, "-H", "Accept: application/json",
			"--data-urlencode", "grant_type=refresh_token", "--data-urlencode", "refresh_token="+refreshToken, url))
	}
	haveCurl := true
	if _, err := os.Stat(curl); err != nil {
		haveCurl = false
		fmt.Printf("curl: %s not found: the comparison with one curl POST is SKIPPED\n\n", curl)
	}

	for range warm {
		if _, err := cycle(); err != nil {
			return fmt.Errorf("warm-up cycle: %w", err)
		}
		if haveCurl {
			if _, err := post(); err != nil {
				return fmt.Errorf("warm-up curl: %w", err)
			}
		}
	}
	var cycles, posts []sample
	for i := range n {
		// Alternate which goes first, so that neither always follows the other.
		steps := []func() error{
			func() error { s, err := cycle(); cycles = append(cycles, s); return err },
		}
		if haveCurl {
			steps = append(steps, func() error { s, err := post(); posts = append(posts, s); return err })
			if i%2 == 1 {
				steps[0], steps[1] = steps[1], steps[0]
			}
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return err
			}
		}
	}
	c := summarize(cycles)
	fmt.Printf("whole cycle (lock, refresh, durable write, delivery), %d runs:\n", n)
	c.print()
	if haveCurl {
		p := summarize(posts)
		fmt.Printf("one curl POST to the same endpoint, %d runs:\n", n)
		p.print()
		// Each cycle ran next to one POST: the median of their ratios
		// cancels drift in the machine's load over the run.
		ratios := make([]float64, n)
		for i := range n {
			ratios[i] = cycles[i].wall.Seconds() / posts[i].wall.Seconds()
		}
		slices.Sort(ratios)
		fmt.Printf("ratio cycle/curl: median wall %.2fx (median of the %d paired ratios %.2fx), peak RSS %.2fx\n",
			c.median.Seconds()/p.median.Seconds(), n, ratios[n/2], float64(c.maxRSS)/float64(p.maxRSS))
		verdict("whole cycle no slower than one curl POST (median)", c.median <= p.median)
	}
	verdict("peak RSS of the cycle at most 20 MiB", c.maxRSS <= 20<<10)
	fmt.Println()

	if err := breakdown(rt, tokens, args, dir, max(n/4, 5)); err != nil {
		return err
	}

	return deliveryBench(sock, conc, deliveries)
}

// start runs bot-sim and waits for it to write readyFile.
func start(ctx context.Context, sim, readyFile string, args ...string) (*exec.Cmd, error) {
	cmd := exec.CommandContext(ctx, sim, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	var stderr bytes.Buffer
	cmd.Stderr = &stderr // bot-sim schwab logs a line per request
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	for range 500 {
		if _, err := os.Stat(readyFile); err == nil {
			return cmd, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	return nil, fmt.Errorf("bot-sim %s did not start: %s", args[0], stderr.String())
}

func stop(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
}

// freshTokens writes the token file as the timer finds it in production:
// an access token issued 25 minutes ago, a refresh token two days old.
func freshTokens(path string) error {
	now := time.Now().Unix()
	data := fmt.Sprintf(`{
    "creation_timestamp": %d,
    "token": {
        "expires_in": 1800,
        "token_type": "Bearer",
        "scope": "api",
        "refresh_token": %q,
        "access_token": "bench-access-token-expiring",
        "id_token": "bench-id-token",
        "expires_at": %d
    }
}
`, now-2*24*3600, refreshToken, now+300)
	return os.WriteFile(path, []byte(data), 0o600)
}

type sample struct {
	wall   time.Duration
	maxRSS int64 // KiB
}

// measure runs cmd to completion: wall time from start to reaped, and the
// child's peak resident set from wait4's rusage.
func measure(cmd *exec.Cmd) (sample, error) {
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t0 := time.Now()
	err := cmd.Run()
	wall := time.Since(t0)
	if err != nil {
		return sample{}, fmt.Errorf("%s: %w\n%s", filepath.Base(cmd.Path), err, stderr.String())
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	var rss int64
	if ru != nil {
		rss = ru.Maxrss
	}
	return sample{wall: wall, maxRSS: rss}, nil
}

type summary struct {
	median, p10, p90, min time.Duration
	medianRSS, maxRSS     int64
}

func summarize(s []sample) summary {
	walls := make([]time.Duration, len(s))
	rss := make([]int64, len(s))
	for i, x := range s {
		walls[i], rss[i] = x.wall, x.maxRSS
	}
	slices.Sort(walls)
	slices.Sort(rss)
	q := func(p float64) time.Duration { return walls[int(p*float64(len(walls)-1))] }
	return summary{
		median: median(walls), p10: q(0.1), p90: q(0.9), min: walls[0],
		medianRSS: rss[len(rss)/2], maxRSS: rss[len(rss)-1],
	}
}

func median(d []time.Duration) time.Duration {
	n := len(d)
	if n%2 == 1 {
		return d[n/2]
	}
	return (d[n/2-1] + d[n/2]) / 2
}

func (s summary) print() {
	fmt.Printf("  wall      median %s   p10 %s   p90 %s   min %s\n", ms(s.median), ms(s.p10), ms(s.p90), ms(s.min))
	fmt.Printf("  peak RSS  median %s   max %s\n", mib(s.medianRSS), mib(s.maxRSS))
}

func verdict(what string, ok bool) {
	v := "MET"
	if !ok {
		v = "NOT MET"
	}
	fmt.Printf("target: %s: %s\n", what, v)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
func mib(kib int64) string      { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

var initLine = regexp.MustCompile(`^init (\S+) @\S+ ms, ([0-9.]+) ms clock, (\d+) bytes, (\d+) allocs`)

// inittrace runs one cycle with GODEBUG=inittrace=1 and sums the package
// initialisers, the work done before main starts.
func inittrace(rt, tokens string, args []string) error {
	if err := freshTokens(tokens); err != nil {
		return err
	}
	cmd := exec.Command(rt, args...)
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("inittrace run: %w\n%s", err, stderr.String())
	}
	type pkg struct {
		name          string
		clock         float64
		bytes, allocs int
	}
	var pkgs []pkg
	var total pkg
	sc := bufio.NewScanner(&stderr)
	for sc.Scan() {
		m := initLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		clock, _ := strconv.ParseFloat(m[2], 64)
		b, _ := strconv.Atoi(m[3])
		a, _ := strconv.Atoi(m[4])
		pkgs = append(pkgs, pkg{m[1], clock, b, a})
		total.clock += clock
		total.bytes += b
		total.allocs += a
	}
	sort.SliceStable(pkgs, func(i, j int) bool { return pkgs[i].clock > pkgs[j].clock })
	fmt.Printf("start-up (GODEBUG=inittrace=1, one run): %d package initialisers, %.2f ms clock, %d bytes in %d allocs\n",
		len(pkgs), total.clock, total.bytes, total.allocs)
	for _, p := range pkgs[:min(5, len(pkgs))] {
		fmt.Printf("  %-40s %.3f ms, %d bytes, %d allocs\n", p.name, p.clock, p.bytes, p.allocs)
	}
	fmt.Println()
	return nil
}

// breakdown splits the cycle: start-up alone (--version: runtime, package
// initialisers, kong's model) and the stages that the run itself times,
// read from --metrics-file.
func breakdown(rt, tokens string, args []string, dir string, n int) error {
	var version []sample
	for range n {
		s, err := measure(exec.Command(rt, "--version"))
		if err != nil {
			return err
		}
		version = append(version, s)
	}
	prom := filepath.Join(dir, "refresh_token.prom")
	stages := []string{"lock", "refresh", "write", "deliver"}
	durs := map[string][]time.Duration{}
	for range n {
		if err := freshTokens(tokens); err != nil {
			return err
		}
		if _, err := measure(exec.Command(rt, append(args, "--metrics-file", prom)...)); err != nil {
			return err
		}
		data, err := os.ReadFile(prom)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(data), "\n") {
			for _, st := range stages {
				if v, ok := strings.CutPrefix(line, `refresh_token_duration_seconds{stage="`+st+`"} `); ok {
					f, _ := strconv.ParseFloat(v, 64)
					durs[st] = append(durs[st], time.Duration(f*float64(time.Second)))
				}
			}
		}
	}
	v := summarize(version)
	fmt.Printf("where a cycle goes, %d runs each:\n", n)
	fmt.Printf("  start-up and exit alone (refresh-token --version)  median %s, peak RSS %s\n", ms(v.median), mib(v.maxRSS))
	for _, st := range stages {
		d := durs[st]
		slices.Sort(d)
		fmt.Printf("  stage %-8s (from --metrics-file)                 median %s\n", st, ms(median(d)))
	}
	fmt.Println()
	return nil
}

// deliveryBench sends many messages at once to bot-sim receive, which, like
// the bot, answers one connection at a time.
func deliveryBench(sock string, conc, total int) error {
	msg, err := deliver.Message{AccessToken: "bench-access", RefreshToken: refreshToken, ExpiresAt: time.Now().Unix() + 1800}.Encode()
	if err != nil {
		return err
	}
	opt := deliver.Options{Retries: 1, Timeout: 10 * time.Second}
	lat := make([]time.Duration, total)
	errs := make([]error, total)
	var next sync.Mutex
	i := 0
	take := func() int {
		next.Lock()
		defer next.Unlock()
		i++
		return i - 1
	}
	var wg sync.WaitGroup
	t0 := time.Now()
	for range conc {
		wg.Go(func() {
			for k := take(); k < total; k = take() {
				s := time.Now()
				errs[k] = deliver.Send(context.Background(), sock, msg, opt)
				lat[k] = time.Since(s)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(t0)
	failed := 0
	var first error
	for _, e := range errs {
		if e != nil {
			failed++
			if first == nil {
				first = e
			}
		}
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
	fmt.Printf("bot-sim receive, %d deliveries from %d concurrent senders (deliver.Send, SO_PEERCRED check, OK ack):\n", total, conc)
	fmt.Printf("  %.0f deliveries/s, %s in all; latency median %s   p99 %s   max %s; failed %d\n",
		float64(total)/elapsed.Seconds(), ms(elapsed), ms(median(lat)), ms(q(0.99)), ms(lat[len(lat)-1]), failed)
	if first != nil {
		return fmt.Errorf("%d deliveries failed, first: %w", failed, first)
	}
	return nil
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func fsType(dir string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return "unknown file system"
	}
	switch st.Type {
	case 0x01021994:
		return "tmpfs: fsync costs nothing here"
	case 0xEF53:
		return "ext2/3/4"
	case 0x58465342:
		return "xfs"
	case 0x9123683E:
		return "btrfs"
	case 0x794c7630:
		return "overlayfs"
	}
	return fmt.Sprintf("file system magic %#x", st.Type)
}

func size(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
