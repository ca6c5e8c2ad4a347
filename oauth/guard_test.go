package oauth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/internal/testutil"
)

// The kernel's table names a socket by its addresses in little-endian
// words; the client's row (local = client, remote = server) gives its uid,
// IPv4 or IPv4-mapped IPv6 alike, and no other row does.
func TestFindUID(t *testing.T) {
	table := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1FF6 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 100 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1FF6 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 101 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:D431 0100007F:1FF6 01 00000000:00000000 00:00000000 00000000 65534        0 102 1 0000000000000000 20 4 30 10 -1
   3: 0000000000000000FFFF00000100007F:D432 0000000000000000FFFF00000100007F:1FF6 01 00000000:00000000 00:00000000 00000000  1001        0 103 1 0000000000000000 20 4 30 10 -1
   4: 0100007F:D433 0100007F:1FF6 01 00000000:00000000 00:00000000 00000000 1002
   5: 0100007F:D434 0100007F:1FF6 01 00000000:00000000 00:00000000
`
	server := netip.MustParseAddrPort("127.0.0.1:8182")
	for _, tt := range []struct {
		client string
		uid    int
	}{
		{"127.0.0.1:54321", 65534},
		{"127.0.0.1:54322", 1001}, // an IPv6 socket, v4-mapped
		{"127.0.0.1:54325", -1},   // not in the table
		{"127.0.0.1:54323", 1002}, // the uid is the 8th field: no more are needed
		{"127.0.0.1:54324", -1},   // a row cut short
	} {
		uid, err := findUID(bufio.NewScanner(strings.NewReader(table)), netip.MustParseAddrPort(tt.client), server)
		if uid != tt.uid || (tt.uid < 0) != (err != nil) {
			t.Errorf("client %s: uid %d, err %v; want %d", tt.client, uid, err, tt.uid)
		}
	}
	if _, err := parseProcAddr("0100007F"); err == nil {
		t.Error("an address without a port parsed")
	}
	if _, err := parseProcAddr("0100007:1FF6"); err == nil {
		t.Error("an address of 7 hex digits parsed")
	}
}

// On Linux the table is read for real: a connection of ours is ours.
func TestConnUIDOfOurOwnConnection(t *testing.T) {
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skip("no /proc/net/tcp")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	uid, err := connUID(addrPort(c.LocalAddr()), addrPort(c.RemoteAddr()))
	if err != nil || uid != os.Geteuid() {
		t.Errorf("uid %d, err %v; want ours, %d", uid, err, os.Geteuid())
	}
	old := procNetTCP
	procNetTCP = []string{filepath.Join(t.TempDir(), "none")}
	defer func() { procNetTCP = old }()
	if _, err := connUID(addrPort(c.LocalAddr()), addrPort(c.RemoteAddr())); !errors.Is(err, errNoProcNet) {
		t.Errorf("without the tables: %v, want errNoProcNet", err)
	}
}

// The guard closes the connections of other users before a byte is read,
// with one WARN per uid that names --trust-uid; our own, root's and trusted
// uids are served; where the tables cannot be read it says so once and
// serves everyone.
func TestGuard(t *testing.T) {
	for _, tt := range []struct {
		name    string
		uid     int
		err     error
		trusted []int
		served  bool
		warn    string
	}{
		{"ours", os.Geteuid(), nil, nil, true, ""},
		{"root", 0, nil, nil, true, ""},
		{"another user", 65534, nil, nil, false, "closed a connection from uid 65534, not this user's; if it is your browser or your ssh -L, run the login again with --trust-uid 65534"},
		{"trusted", 65534, nil, []int{65534}, true, ""},
		{"no tables", -1, errNoProcNet, nil, true, "cannot tell which user connects"},
		{"not found", -1, errors.New("no socket"), nil, false, "closed a connection whose user cannot be told: no socket"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			g := newGuard(ln, append([]int{os.Geteuid(), 0}, tt.trusted...), slog.New(slog.NewTextHandler(&logs, nil)))
			g.uidOf = func(netip.AddrPort, netip.AddrPort) (int, error) { return tt.uid, tt.err }
			accepted := make(chan net.Conn, 1)
			go func() {
				c, err := g.Accept()
				if err == nil {
					accepted <- c
				}
				close(accepted)
			}()
			for range 2 { // the second of a kind logs nothing more
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				if tt.served {
					if a := <-accepted; a == nil {
						t.Error("the connection was not handed on")
					} else {
						a.Close()
					}
					c.Close()
					break
				}
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, rerr := c.Read(make([]byte, 1))
				c.Close()
				if !errors.Is(rerr, io.EOF) {
					t.Errorf("a refused connection: read %v, want EOF at once", rerr)
				}
			}
			ln.Close()
			for range accepted {
			}
			if tt.warn == "" && logs.Len() > 0 || !strings.Contains(logs.String(), tt.warn) || strings.Count(logs.String(), "level=WARN") > 1 {
				t.Errorf("log:\n%s\nwant one WARN with %q", logs.String(), tt.warn)
			}
		})
	}
}

const callbackClientEnv = "RTTEST_CALLBACK_CLIENT"

// As root, a real second user (nobody) is closed out: its request with the
// right state gets no answer and ends nothing; trusted with --trust-uid,
// it is served.
func TestCallbackServesOnlyItsUsers(t *testing.T) {
	if u := os.Getenv(callbackClientEnv); u != "" {
		fp, target, _ := strings.Cut(u, " ")
		code, body := getOrErr(browser(fp), target)
		fmt.Printf("CLIENT RESULT %s\n%s\n", code, body)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a client as uid 65534")
	}
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skip("no /proc/net/tcp")
	}
	const nobody = 65534
	dir := testutil.ShortTempDir(t)
	os.Chmod(dir, 0o755)
	bin := testutil.CopyExecutable(t, dir)
	asNobody := func(fp, target string) string {
		cmd := exec.Command(bin, "-test.run=^TestCallbackServesOnlyItsUsers$")
		cmd.Env = append(os.Environ(), callbackClientEnv+"="+fp+" "+target, "GOCOVERDIR=")
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		out, _ := cmd.CombinedOutput()
		_, res, _ := strings.Cut(string(out), "CLIENT RESULT ")
		res, detail, _ := strings.Cut(res, "\n")
		t.Logf("as uid %d: %s %.200s", nobody, res, detail)
		return res
	}
	for _, trust := range [][]int{nil, {nobody}} {
		var logs testutil.SyncBuffer
		srv, port := listenCallback(t, trust, slog.New(slog.NewTextHandler(&logs, nil)))
		ctx, cancel := context.WithCancel(context.Background())
		waited := make(chan error, 1)
		go func() { _, _, err := srv.Wait(ctx); waited <- err }()
		got := asNobody(srv.Fingerprint, "https://127.0.0.1:"+port+"/?error=access_denied&state=st")
		cancel()
		werr := <-waited
		srv.Close()
		if trust == nil {
			if got != "error" || !errors.Is(werr, context.Canceled) || !strings.Contains(logs.String(), "uid 65534") {
				t.Errorf("untrusted: client got %q, Wait %v\n%s", got, werr, logs.String())
			}
			continue
		}
		var d *DeniedError
		if got != "403" || !errors.As(werr, &d) {
			t.Errorf("trusted: client got %q, Wait %v\n%s", got, werr, logs.String())
		}
	}
}

// getOrErr is the status of a GET, or "error".
func getOrErr(c *http.Client, u string) (string, string) {
	resp, err := c.Get(u)
	if err != nil {
		return "error", err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return fmt.Sprint(resp.StatusCode), string(body)
}

// The callback is served on 127.0.0.1 alone, over TLS 1.2 or later; a
// method other than GET is refused; every page closes its connection.
func TestCallbackListenerAndProtocol(t *testing.T) {
	srv, port := listenCallback(t, nil, slog.New(slog.DiscardHandler))
	if addrs, _ := net.InterfaceAddrs(); len(addrs) > 0 {
		for _, a := range addrs {
			ip, _, _ := net.ParseCIDR(a.String())
			if ip == nil || ip.IsLoopback() {
				continue
			}
			if c, err := net.DialTimeout("tcp", net.JoinHostPort(ip.String(), port), time.Second); err == nil {
				c.Close()
				t.Errorf("the callback answers on %s: it must listen on 127.0.0.1 only", ip)
			}
		}
	}
	if c, err := net.DialTimeout("tcp", "[::1]:"+port, time.Second); err == nil {
		c.Close()
		t.Error("the callback answers on [::1]: it must listen on 127.0.0.1 only")
	}
	old := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}}}
	if _, err := old.Get("https://127.0.0.1:" + port + "/?code=C&state=st"); err == nil {
		t.Error("a TLS 1.1 client was served")
	}
	c := browser(srv.Fingerprint)
	resp, err := c.Post("https://127.0.0.1:"+port+"/?code=C&state=st", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET" || !resp.Close {
		t.Errorf("POST: %d, Allow %q, close %v; want 405, GET, and the connection closed", resp.StatusCode, resp.Header.Get("Allow"), resp.Close)
	}
	if srv.srv.IdleTimeout <= 0 || srv.srv.ReadTimeout <= 0 {
		t.Errorf("idle timeout %v, read timeout %v: a kept-alive connection would never close", srv.srv.IdleTimeout, srv.srv.ReadTimeout)
	}
	if _, err := ReadCallback("code=C&state=s", "st"); !errors.Is(err, ErrState) {
		t.Errorf("a state that is only a prefix of the login's: %v, want ErrState", err)
	}
}

// A flood of refused requests writes a few WARN lines of bounded length,
// the rest at DEBUG, and their number when the login ends.
func TestCallbackRefusalsBounded(t *testing.T) {
	var logs testutil.SyncBuffer
	srv, port := listenCallback(t, nil, slog.New(slog.NewTextHandler(&logs, nil)))
	c := browser(srv.Fingerprint)
	key := strings.Repeat("k", 20<<10)
	for range 10 {
		getOrErr(c, "https://127.0.0.1:"+port+"/?"+key+"=1&"+key+"=2&state=st")
	}
	srv.Close()
	// Exactly three refusals: all at WARN, no count at the end.
	var logs3 testutil.SyncBuffer
	srv3, port3 := listenCallback(t, nil, slog.New(slog.NewTextHandler(&logs3, nil)))
	for range 3 {
		getOrErr(browser(srv3.Fingerprint), "https://127.0.0.1:"+port3+"/?state=other")
	}
	srv3.Close()
	if n := strings.Count(logs3.String(), "level=WARN"); n != 3 || strings.Contains(logs3.String(), "more requests") {
		t.Errorf("3 refusals: %d WARN lines, want 3 and no count:\n%s", n, logs3.String())
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 4 || !strings.Contains(lines[3], "refused 7 more requests, logged at debug level") {
		t.Fatalf("want 3 refusals and a count, got %d lines:\n%.2000s", len(lines), logs.String())
	}
	for _, l := range lines[:3] {
		if len(l) > 300 {
			t.Errorf("a refusal line of %d bytes: %.300s", len(l), l)
		}
	}
	if !strings.Contains(lines[2], "further refusals are logged at debug level") {
		t.Errorf("the third refusal does not say the rest go to debug: %s", lines[2])
	}
}

// A page loaded again while the code is being exchanged waits for the
// outcome and says it: the login ends up saying whether it succeeded.
func TestCallbackReloadShowsOutcome(t *testing.T) {
	srv, port := listenCallback(t, nil, slog.New(slog.DiscardHandler))
	c := browser(srv.Fingerprint)
	u := "https://127.0.0.1:" + port + "/?code=C&state=st"
	first, second := make(chan string, 1), make(chan string, 1)
	go func() { code, body := getOrErr(c, u); first <- code + " " + body }()
	_, reply, err := srv.Wait(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	go func() { code, body := getOrErr(c, u); second <- code + " " + body }()
	select {
	case p := <-second:
		t.Fatalf("the reload was answered before the outcome: %s", p)
	case <-time.After(100 * time.Millisecond):
	}
	reply(Outcome{OK: true, Message: "Logged in: saved."})
	if p := <-first; !strings.HasPrefix(p, "200 ") || !strings.Contains(p, "Logged in: saved.") {
		t.Errorf("first page: %s", p)
	}
	if p := <-second; !strings.HasPrefix(p, "409 ") || !strings.Contains(p, "Logged in: saved.") {
		t.Errorf("reloaded page: %s", p)
	}
}

// listenCallback starts a callback server with state "st" on a free port,
// closed when the test ends, and returns it with its port.
func listenCallback(t *testing.T, trust []int, log *slog.Logger) (*CallbackServer, string) {
	t.Helper()
	port := freePort(t)
	cb, err := CheckCallbackURL("https://127.0.0.1:" + port)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ListenCallback(cb, "st", trust, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv, port
}
