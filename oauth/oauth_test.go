package oauth

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/refresh-token/refresh-token/internal/exit"
)

// schwabNested is the 400 Schwab really sends for a dead refresh token.
const schwabNested = `{"error":"unsupported_token_type","error_description":"400 Bad Request: \"{\"error_description\":\"Exception while authenticating refresh token [...]\",\"error\":\"refresh_token_authentication_error\"}\""}`

func TestClassify(t *testing.T) {
	ok := `{"access_token":"AT","refresh_token":"RT","id_token":"ID","expires_in":1800,"token_type":"Bearer","scope":"api"}`
	tests := []struct {
		name       string
		status     int
		header     http.Header
		body       string
		want       *Response
		code       int    // exit code of the error
		login      bool   // a rejection that needs a new login
		errCode    string // the OAuth error code found
		retryAfter time.Duration
		msg        string // substring of the error
	}{
		{name: "ok", status: 200, body: ok, want: &Response{AccessToken: "AT", RefreshToken: "RT", IDToken: "ID", ExpiresIn: 1800, TokenType: "Bearer", Scope: "api"}},
		{name: "ok without refresh_token", status: 200, body: `{"access_token":"AT","expires_in":1800}`, want: &Response{AccessToken: "AT", ExpiresIn: 1800}},
		{name: "200 html", status: 200, body: "<html><title>Access Denied</title></html>", code: 75, msg: "HTML page: Access Denied"},
		{name: "200 not json", status: 200, body: "hello", code: 75, msg: "not JSON"},
		{name: "200 empty", status: 200, body: "", code: 75, msg: "empty body"},
		{name: "200 no access_token", status: 200, body: `{"expires_in":1800}`, code: 75, msg: "lacks access_token"},
		{name: "200 no expires_in", status: 200, body: `{"access_token":"AT"}`, code: 75, msg: "lacks access_token or expires_in"},
		// now + expires_in overflowed: a negative expires_at was written
		// and sent to the bot, as "expires in -1 seconds".
		{name: "200 expires_in huge", status: 200, body: `{"access_token":"AT","expires_in":9223372036854775807}`, code: 75, msg: "implausible expires_in 9223372036854775807"},
		{name: "200 expires_in over a day", status: 200, body: `{"access_token":"AT","expires_in":86401}`, code: 75, msg: "implausible expires_in"},
		{name: "200 expires_in of a day", status: 200, body: `{"access_token":"AT","expires_in":86400}`, want: &Response{AccessToken: "AT", ExpiresIn: 86400}},
		{name: "huge description is cut", status: 400, body: `{"error":"x","error_description":"` + strings.Repeat("a", 5000) + `"}`, code: 77, errCode: "x", msg: strings.Repeat("a", 300) + "..."},
		{name: "control characters in a description", status: 400, body: `{"error":"x","error_description":"a\nb\u0007c"}`, code: 77, errCode: "x", msg: "(HTTP 400, x): a b?c"},
		{name: "200 wrong types", status: 200, body: `{"access_token":1,"expires_in":"1800"}`, code: 75, msg: "malformed"},
		{name: "oversized", status: 200, body: strings.Repeat(" ", maxBody+1), code: 75, msg: "over 1 MiB"},
		{name: "invalid_grant", status: 400, body: `{"error":"invalid_grant","error_description":"expired"}`, code: 77, login: true, errCode: "invalid_grant"},
		{name: "invalid_client 401", status: 401, body: `{"error":"invalid_client","error_description":"refresh token invalid"}`, code: 77, login: true, errCode: "invalid_client"},
		{name: "schwab nested", status: 400, body: schwabNested, code: 77, login: true, errCode: "refresh_token_authentication_error", msg: "Exception while authenticating refresh token"},
		{name: "nested unknown inner keeps outer login", status: 400, body: `{"error":"unsupported_token_type","error_description":"x \"{\"error\":\"weird\"}\""}`, code: 77, login: true, errCode: "weird"},
		{name: "other json 4xx", status: 403, body: `{"error":"access_denied","error_description":"app not approved"}`, code: 77, errCode: "access_denied", msg: "app not approved"},
		{name: "json 4xx without error", status: 400, body: `{"message":"bad"}`, code: 77, msg: `{"message":"bad"}`},
		{name: "html 403 from the CDN", status: 403, body: "<HTML><HEAD><TITLE>Access Denied</TITLE></HEAD></HTML>", code: 75, msg: "Access Denied"},
		// bytes.ToLower turns each invalid UTF-8 byte into 3 bytes: an index
		// into the lowered page sliced the original out of range (a panic).
		{name: "latin-1 html 403", status: 403, body: "<html lang=\"fr\">\xe9\xe9<TITLE>Acc\xe8s refus\xe9</TITLE></html>", code: 75, msg: "HTML page: Acc?s refus?"},
		{name: "invalid UTF-8 before an empty title", status: 403, body: "<\x8d<title>", code: 75, msg: "(HTML page)"},
		{name: "title spread over lines", status: 403, body: "<html><title>\n  Access\r\n  Denied\n</title>", code: 75, msg: "(HTML page: Access Denied)"},
		{name: "408", status: 408, body: `{"error":"timeout"}`, code: 75},
		{name: "429 retry-after", status: 429, header: http.Header{"Retry-After": {"7"}}, body: `{"error":"slow down"}`, code: 75, retryAfter: 7 * time.Second},
		{name: "500", status: 500, body: "oops", code: 75},
		{name: "503 json", status: 503, body: `{"error":"unavailable"}`, code: 75},
		{name: "302", status: 302, body: "", code: 75, msg: "unexpected status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Classify(tt.status, tt.header, []byte(tt.body))
			if tt.want != nil {
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("response (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			if c := exit.Code(err); c != tt.code {
				t.Errorf("exit code = %d, want %d (%v)", c, tt.code, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q lacks %q", err, tt.msg)
			}
			if exit.Hint(err) == "" {
				t.Error("no hint")
			}
			var rej *RejectedError
			if errors.As(err, &rej) {
				if rej.Login != tt.login || rej.Code != tt.errCode {
					t.Errorf("login, code = %v, %q; want %v, %q", rej.Login, rej.Code, tt.login, tt.errCode)
				}
				if tt.login && !strings.HasPrefix(exit.Hint(err), LoginHint) {
					t.Errorf("hint = %q, want the login hint", exit.Hint(err))
				}
			}
			var tmp *TemporaryError
			if errors.As(err, &tmp) && tmp.RetryAfter != tt.retryAfter {
				t.Errorf("RetryAfter = %v, want %v", tmp.RetryAfter, tt.retryAfter)
			}
		})
	}
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		url  string
		code int
	}{
		{"https://api.schwabapi.com/v1/oauth/token", 0},
		{"http://127.0.0.1:8080/v1/oauth/token", 0},
		{"http://127.9.9.9/t", 0},
		{"http://[::1]:80/t", 0},
		{"http://localhost:1/t", 0},
		{"http://api.schwabapi.com/v1/oauth/token", 78},
		{"http://10.0.0.1/t", 78},
		{"ftp://127.0.0.1/t", 78},
		{"not a url", 78},
		{"/relative", 78},
	}
	for _, tt := range tests {
		if got := exit.Code(CheckURL(tt.url)); got != tt.code {
			t.Errorf("CheckURL(%q) exit = %d, want %d", tt.url, got, tt.code)
		}
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestClientRetries(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, secret, _ := r.BasicAuth()
		if key != "k%2By" || secret != "s" || r.FormValue("grant_type") != "refresh_token" || r.FormValue("refresh_token") != "RT" {
			t.Errorf("request: key %q secret %q form %v", key, secret, r.Form)
		}
		if n.Add(1) < 3 {
			w.WriteHeader(503)
			return
		}
		io.WriteString(w, `{"access_token":"AT","expires_in":1800}`)
	}))
	defer srv.Close()
	c := &Client{URL: srv.URL, App: App{Key: "k+y", Secret: "s"}, HTTP: srv.Client(), Log: discard(), Attempts: 3, Backoff: time.Millisecond}
	r, err := c.Refresh(context.Background(), "RT")
	if err != nil {
		t.Fatal(err)
	}
	if r.AccessToken != "AT" || n.Load() != 3 {
		t.Errorf("got %+v after %d requests", r, n.Load())
	}
}

func TestClientGivesUpAndDoesNotRetryRejections(t *testing.T) {
	for _, tt := range []struct {
		status   int
		body     string
		requests int32
		code     int
	}{
		{503, "down", 3, 75},
		{400, schwabNested, 1, 77},
	} {
		var n atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			w.WriteHeader(tt.status)
			io.WriteString(w, tt.body)
		}))
		c := &Client{URL: srv.URL, HTTP: srv.Client(), Log: discard(), Attempts: 3, Backoff: time.Millisecond}
		_, err := c.Refresh(context.Background(), "RT")
		srv.Close()
		if exit.Code(err) != tt.code || n.Load() != tt.requests {
			t.Errorf("status %d: exit %d after %d requests, want %d after %d (%v)", tt.status, exit.Code(err), n.Load(), tt.code, tt.requests, err)
		}
	}
}

// TLS verification stays on: a server whose certificate nobody trusts fails.
func TestClientVerifiesTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"access_token":"AT","expires_in":1800}`)
	}))
	defer srv.Close()
	c := &Client{URL: srv.URL, HTTP: NewHTTPClient(5 * time.Second), Log: discard(), Attempts: 1}
	_, err := c.Refresh(context.Background(), "RT")
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("err = %v, want a certificate error", err)
	}
}
