package refresh

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// A flag on the command line beats its environment variable, which beats
// the default.
func TestFlagPrecedence(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want func(*CLI) any
		val  any
	}{
		{"default", nil, nil, func(c *CLI) any { return c.TokenFile }, "configs/schwab_tokens.json"},
		{"env", nil, map[string]string{"REFRESH_TOKEN_TOKEN_FILE": "/e.json"}, func(c *CLI) any { return c.TokenFile }, "/e.json"},
		{"flag beats env", []string{"--token-file=/f.json"}, map[string]string{"REFRESH_TOKEN_TOKEN_FILE": "/e.json"}, func(c *CLI) any { return c.TokenFile }, "/f.json"},
		{"run flag from env", nil, map[string]string{"REFRESH_TOKEN_IF_EXPIRES_WITHIN": "10m"}, func(c *CLI) any { return c.Run.IfExpiresWithin }, 10 * time.Minute},
		{"run flag beats env", []string{"--if-expires-within=1m"}, map[string]string{"REFRESH_TOKEN_IF_EXPIRES_WITHIN": "10m"}, func(c *CLI) any { return c.Run.IfExpiresWithin }, time.Minute},
		{"http timeout env name", nil, map[string]string{"REFRESH_TOKEN_HTTP_TIMEOUT": "3s"}, func(c *CLI) any { return c.Run.HTTPTimeout }, 3 * time.Second},
		{"sockets from env", nil, map[string]string{"REFRESH_TOKEN_SOCKET": "/a.sock,/b.sock"}, func(c *CLI) any { return c.Socket }, []string{"/a.sock", "/b.sock"}},
		{"sockets repeated", []string{"--socket=/a", "--socket=/b"}, map[string]string{"REFRESH_TOKEN_SOCKET": "/e"}, func(c *CLI) any { return c.Socket }, []string{"/a", "/b"}},
		{"trust uids", []string{"--trust-uid=1000", "--trust-uid=1001"}, nil, func(c *CLI) any { return c.TrustUID }, []int{1000, 1001}},
		{"bool env", nil, map[string]string{"REFRESH_TOKEN_FORCE": "true"}, func(c *CLI) any { return c.Run.Force }, true},
		{"empty log file disables", []string{"--log-file="}, map[string]string{"REFRESH_TOKEN_LOG_FILE": "/x.log"}, func(c *CLI) any { return c.LogFile }, ""},
		{"global flag after command", []string{"deliver", "--token-file=/d.json"}, nil, func(c *CLI) any { return c.TokenFile }, "/d.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var cli CLI
			p, err := newParser(&cli, Build{}, io.Discard, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.val, tt.want(&cli)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestMainUsageAndVersion(t *testing.T) {
	tests := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"--version"}, 0, "refresh-token v1.2.3 (commit abc, go", ""},
		{[]string{"--help"}, 0, "Exit codes (sysexits)", ""},
		{[]string{"run", "--help"}, 0, "--if-expires-within", ""},
		{[]string{"--bogus"}, 64, "", "refresh-token: error: unknown flag --bogus"},
		{[]string{"--log-level=loud"}, 64, "", "refresh-token: error:"},
		{[]string{"--http-timeout=soon"}, 64, "", "refresh-token: error:"},
		{[]string{"deliver", "--force"}, 64, "", "refresh-token: error:"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := Main(Build{Version: "v1.2.3", Commit: "abc"}, tt.args, &out, &errb)
		if code != tt.code || !strings.Contains(out.String(), tt.stdout) || !strings.Contains(errb.String(), tt.stderr) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", tt.args, code, out.String(), errb.String())
		}
	}
}
