package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/rogpeppe/go-internal/testscript"
)

// runas UID NAME ARGS...: start NAME (bot-sim or refresh-token) in the
// background as UID, the way a squatter would run it. It runs in a new
// directory that UID owns, $RUNAS_DIR (short: the socket path must fit
// sun_path), with its output in $RUNAS_DIR/out.log, and is stopped with
// SIGTERM when the script ends. testscript's exec cannot change user; this
// starts a copy of the test binary with SysProcAttr.Credential (root only).
func cmdRunas(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: runas UID NAME ARGS...")
	}
	uid, err := strconv.Atoi(args[0])
	ts.Check(err)
	dir, err := os.MkdirTemp("", "x")
	ts.Check(err)
	ts.Defer(func() { os.RemoveAll(dir) })
	ts.Check(os.Chmod(dir, 0o755))
	ts.Check(os.Chown(dir, uid, uid))

	// The test binary's own directory is private to us: link or copy it
	// where UID can run it, under the name that selects the command.
	exe, err := os.Executable()
	ts.Check(err)
	bin := filepath.Join(dir, args[1])
	if os.Link(exe, bin) != nil {
		ts.Check(copyFile(exe, bin))
	}
	out, err := os.Create(filepath.Join(dir, "out.log"))
	ts.Check(err)
	cmd := exec.Command(bin, args[2:]...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	ts.Check(cmd.Start())
	ts.Defer(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		out.Close()
	})
	ts.Setenv("RUNAS_DIR", dir)
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// tlsendpoint NAME: serve a token endpoint over TLS with a certificate that
// nobody trusts, answering every request with a fresh token; set NAME to
// its URL. It stops when the script ends.
func cmdTLSEndpoint(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: tlsendpoint NAME")
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"AT-over-untrusted-tls","expires_in":1800}`)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes we expect to fail
	srv.StartTLS()
	ts.Defer(srv.Close)
	ts.Setenv(args[0], srv.URL+"/v1/oauth/token")
}

// urlhost NAME URL HOST: set NAME to URL with its host name replaced by
// HOST, the port kept.
func cmdURLHost(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: urlhost NAME URL HOST")
	}
	u, err := url.Parse(args[1])
	ts.Check(err)
	u.Host = args[2] + ":" + u.Port()
	ts.Setenv(args[0], u.String())
}

// islink LINK TARGET: LINK is a symbolic link to TARGET.
func cmdIsLink(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: islink LINK TARGET")
	}
	got, err := os.Readlink(ts.MkAbs(args[0]))
	if ok := err == nil && got == args[1]; ok == neg {
		ts.Fatalf("%s: link to %q (%v), want %s%q", args[0], got, err, map[bool]string{true: "not "}[neg], args[1])
	}
}

// nosecrets SOURCE... -- OUTPUT...: no OUTPUT file contains a token or
// secret found in a SOURCE: the access, refresh and id tokens of a token
// file, the app_secret of an app config. Values under 8 characters are not
// looked for; a debug line may show a 4-character prefix.
func cmdNoSecrets(ts *testscript.TestScript, neg bool, args []string) {
	i := indexOf(args, "--")
	if neg || i < 1 || i == len(args)-1 {
		ts.Fatalf("usage: nosecrets SOURCE... -- OUTPUT...")
	}
	var secrets []string
	for _, src := range args[:i] {
		secrets = append(secrets, secretsIn(ts, src)...)
	}
	if len(secrets) == 0 {
		ts.Fatalf("no secrets found in %v", args[:i])
	}
	for _, out := range args[i+1:] {
		text := ts.ReadFile(out)
		for _, s := range secrets {
			if strings.Contains(text, s) {
				ts.Fatalf("%s shows the secret %s…", out, s[:4])
			}
		}
	}
	ts.Logf("checked %d outputs for %d secrets", len(args)-i-1, len(secrets))
}

func indexOf(args []string, s string) int {
	for i, a := range args {
		if a == s {
			return i
		}
	}
	return -1
}

var appSecretLine = regexp.MustCompile(`(?m)^app_secret:\s*(\S+)`)

func secretsIn(ts *testscript.TestScript, file string) []string {
	data := ts.ReadFile(file)
	var found []string
	if m := appSecretLine.FindStringSubmatch(data); m != nil {
		found = append(found, m[1])
	}
	var doc struct {
		Token map[string]any `json:"token"`
	}
	if json.Unmarshal([]byte(data), &doc) == nil {
		for _, k := range []string{"access_token", "refresh_token", "id_token"} {
			if s, ok := doc.Token[k].(string); ok {
				found = append(found, s)
			}
		}
	}
	var long []string
	for _, s := range found {
		if len(s) >= 8 {
			long = append(long, s)
		}
	}
	return long
}
