package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/testutil"
	"github.com/refresh-token/refresh-token/status"
)

// runStatus runs the whole command line, as the binary would.
func runStatus(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(Build{}, args, &out, &errb)
	return code, out.String(), errb.String()
}

// The JSON report decodes into the documented schema, field for field.
func TestStatusJSON(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().Unix()
	expires, created := now+1200, now-2*24*3600
	p := testutil.Tokens(t, dir, expires, created)
	sock, _ := testutil.Listen(t)

	code, out, errOut := runStatus(t, "status", "--token-file", p, "--socket", sock, "--json")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var got status.Report
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("decode %s: %v", out, err)
	}
	// Derive the times from the moment the report was made.
	at := got.CheckedAtUnix
	if at < now || at > now+5 {
		t.Fatalf("checked_at_unix = %d, now is %d", at, now)
	}
	me, gid := os.Geteuid(), os.Getegid()
	name := ""
	if u, err := user.LookupId(strconv.Itoa(me)); err == nil {
		name = u.Username
	}
	refreshExpires := created + 7*24*3600
	want := status.Report{
		Healthy:       true,
		ExitCode:      0,
		CheckedAt:     time.Unix(at, 0).UTC().Format(time.RFC3339),
		CheckedAtUnix: at,
		Problems:      []string{},
		Warnings:      []string{},
		TokenFile:     status.File{Path: p, Exists: true, Mode: "0600", OwnerUID: &me, OwnerGID: &gid, Owner: name},
		AccessToken: &status.Access{
			IssuedAt: time.Unix(expires-1800, 0).UTC().Format(time.RFC3339), IssuedAtUnix: expires - 1800,
			ExpiresAt: time.Unix(expires, 0).UTC().Format(time.RFC3339), ExpiresAtUnix: expires,
			LifetimeSeconds: 1800, RemainingSeconds: expires - at,
		},
		RefreshToken: &status.Refresh{
			Known:     true,
			CreatedAt: ptr(time.Unix(created, 0).UTC().Format(time.RFC3339)), CreatedAtUnix: &created,
			AgeSeconds: ptr(at - created),
			ExpiresAt:  ptr(time.Unix(refreshExpires, 0).UTC().Format(time.RFC3339)), ExpiresAtUnix: &refreshExpires,
			RemainingSeconds: ptr(refreshExpires - at),
		},
		Lock:    status.Lock{Path: p + ".lock", State: status.LockFree},
		Sockets: []status.Socket{{Path: sock, Exists: true, IsSocket: true, OwnerUID: &me, Accepts: true, PeerUID: &me, Trusted: true, Ack: "auto"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("status --json (-want +got):\n%s", diff)
	}
	// snake_case keys, with the documented names at the top level.
	var raw map[string]json.RawMessage
	json.Unmarshal([]byte(out), &raw)
	for _, k := range []string{"healthy", "exit_code", "checked_at", "checked_at_unix", "problems", "warnings", "token_file", "access_token", "refresh_token", "lock", "sockets"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("key %q missing from %s", k, out)
		}
	}
	if strings.Contains(out, "secret") {
		t.Errorf("status printed a token:\n%s", out)
	}
}

// A failure is the exit code and the report on stdout, with no error line
// on stderr and no log file.
func TestStatusCommandExitCodes(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().Unix()
	logFile := filepath.Join(dir, "logs", "run.log")
	// The environment file that run and status share may name a log file:
	// status has no such flag and writes none.
	t.Setenv("REFRESH_TOKEN_LOG_FILE", logFile)
	tests := []struct {
		name    string
		expires int64
		created int64
		code    int
		text    string // regexp
	}{
		{"healthy", now + 1200, now - 3600, 0, `(?m)^Status +healthy$`},
		{"access expired", now - 60, now - 3600, 75, `(?m)^Status +UNHEALTHY \(exit 75\)$`},
		{"refresh expired", now + 1200, now - 8*24*3600, 77, `(?m)^Refresh token +EXPIRED: 8\.0 days old`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testutil.Tokens(t, t.TempDir(), tt.expires, tt.created)
			var out, errb bytes.Buffer
			code := Main(Build{}, []string{"status", "--token-file", p, "--socket", filepath.Join(dir, "none")}, &out, &errb)
			if code != tt.code || errb.Len() != 0 {
				t.Errorf("exit %d, want %d; stderr %q", code, tt.code, errb.String())
			}
			if !regexp.MustCompile(tt.text).MatchString(out.String()) {
				t.Errorf("stdout does not match %s:\n%s", tt.text, out.String())
			}
			if strings.ContainsRune(out.String(), '\x1b') || strings.Contains(out.String(), "secret") {
				t.Errorf("stdout has escape codes or a token:\n%s", out.String())
			}
		})
	}
	code, out, _ := runStatus(t, "status", "--token-file", filepath.Join(dir, "missing.json"))
	if code != exit.NoInput || !strings.Contains(out, "not found") {
		t.Errorf("missing file: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Dir(logFile)); err == nil {
		t.Error("status created the log directory")
	}
}

func ptr[T any](v T) *T { return &v }
