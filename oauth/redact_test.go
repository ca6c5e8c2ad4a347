package oauth

import (
	"context"
	"strings"
	"testing"

	"github.com/refresh-token/refresh-token/internal/exit"
)

func TestRedactURL(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"https://api.schwabapi.com/v1/oauth/token", "https://api.schwabapi.com/v1/oauth/token"},
		{"http://user:S3cr3t@127.0.0.1:8080/t", "http://user:xxxxx@127.0.0.1:8080/t"},
		{"https://user:S3cr3t@api.schwabapi.com/t?x=1", "https://user:xxxxx@api.schwabapi.com/t?x=1"},
		{"http://onlyuser@127.0.0.1/t", "http://onlyuser@127.0.0.1/t"},
		// Does not parse (bad escape): the whole user part goes.
		{"http://user:S3cr%zzt@host/t", "http://xxxxx@host/t"},
		{"http://user:S3cr3t@host:port/t", "http://xxxxx@host:port/t"},
		// Parses as scheme "user" with an opaque rest.
		{"user:S3cr3t@api.schwabapi.com/t", "xxxxx@api.schwabapi.com/t"},
		// An @ after the authority is not a user part.
		{"http://host:port/a@b", "http://host:port/a@b"},
		// The path starts the authority's end: an @ in it is not a user part.
		{"http:///p%zz@x", "http:///p%zz@x"},
		// An empty user part is replaced all the same.
		{"http://@host:port/t", "http://xxxxx@host:port/t"},
		{"/relative", "/relative"},
		{"", ""},
	} {
		if got := RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// CheckURL's errors name the URL, never its password.
func TestCheckURLRedacts(t *testing.T) {
	for _, raw := range []string{
		"http://user:S3cr3t@api.schwabapi.com/v1/oauth/token", // http off loopback
		"ftp://user:S3cr3t@127.0.0.1/t",                       // wrong scheme
		"http://user:S3cr3t@host:port/t",                      // does not parse
		"user:S3cr3t@api.schwabapi.com/t",                     // no scheme
		"https://user:S3cr3t@/t",                              // no host
	} {
		for name, check := range map[string]func(string) error{
			"CheckURL":          CheckURL,
			"CheckAuthorizeURL": CheckAuthorizeURL,
			"CheckCallbackURL":  func(s string) error { _, err := CheckCallbackURL(s); return err },
		} {
			err := check(raw)
			if exit.Code(err) != exit.Config {
				t.Errorf("%s(%q) = %v, want exit 78", name, raw, err)
				continue
			}
			if msg := err.Error() + exit.Hint(err); strings.Contains(msg, "S3cr3t") || !strings.Contains(msg, "xxxxx") {
				t.Errorf("%s(%q): %q, want the password redacted", name, raw, msg)
			}
		}
	}
}

// A URL that CheckURL did not see (a Client built by hand) is redacted in
// the request error too.
func TestClientRedactsBadURL(t *testing.T) {
	c := &Client{URL: "http://user:S3cr3t@host:port/t", HTTP: NewHTTPClient(0), Log: discard(), Attempts: 1}
	_, err := c.Refresh(context.Background(), "RT")
	if exit.Code(err) != exit.Config {
		t.Fatalf("err = %v, want exit 78", err)
	}
	if strings.Contains(err.Error(), "S3cr3t") || !strings.Contains(err.Error(), "xxxxx") {
		t.Errorf("error %q, want the password redacted", err)
	}
}
