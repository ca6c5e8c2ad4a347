package oauth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/harness"
	"github.com/refresh-token/refresh-token/internal/exit"
)

func TestAuthorizeURL(t *testing.T) {
	got := AuthorizeURL(DefaultAuthorizeURL, "Key1", "https://127.0.0.1:8182", "s-t_ate")
	want := "https://api.schwabapi.com/v1/oauth/authorize?response_type=code&client_id=Key1&redirect_uri=https%3A%2F%2F127.0.0.1%3A8182&state=s-t_ate"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := AuthorizeURL("http://127.0.0.1:1/a?x=1", "K", "https://127.0.0.1", "s"); !strings.HasPrefix(got, "http://127.0.0.1:1/a?x=1&response_type=code&") {
		t.Errorf("a base with a query: %s", got)
	}
}

// The state carries at least 128 random bits and is URL-safe.
func TestNewState(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		s := NewState()
		if len(s) < 22 || url.QueryEscape(s) != s || seen[s] {
			t.Fatalf("state %q: too short, not URL-safe or repeated", s)
		}
		seen[s] = true
	}
}

func TestCheckCallbackURL(t *testing.T) {
	for _, ok := range []string{"https://127.0.0.1:8182", "https://127.0.0.1", "https://127.0.0.1:8182/", "https://127.0.0.1:8182/callback", "https://127.0.0.1:1", "https://127.0.0.1:65535"} {
		if _, err := CheckCallbackURL(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for in, msg := range map[string]string{
		"":                              "no callback_url",
		"http://127.0.0.1:8182":         "must be https",
		"https://localhost:8182":        "host must be 127.0.0.1",
		"https://127.0.0.2:8182":        "host must be 127.0.0.1",
		"https://[::1]:8182":            "host must be 127.0.0.1",
		"https://example.com":           "host must be 127.0.0.1",
		"https://u:p@127.0.0.1:8182":    "user name",
		"https://127.0.0.1:8182/?a=b":   "query",
		"https://127.0.0.1:8182/#f":     "fragment",
		"https://127.0.0.1:0":           "out of range",
		"https://127.0.0.1:70000":       "out of range",
		"https://127.0.0.1:65536":       "out of range",
		"127.0.0.1:8182":                "",
		"https://127.0.0.1:8182 /x\x7f": "not a valid URL",
	} {
		_, err := CheckCallbackURL(in)
		if err == nil || exit.Code(err) != exit.Config || !strings.Contains(err.Error(), msg) || !strings.Contains(exit.Hint(err), "callback_url") {
			t.Errorf("%q: %v (exit %d, hint %q), want exit 78 with %q", in, err, exit.Code(err), exit.Hint(err), msg)
		}
		if err != nil && strings.Contains(err.Error(), ":p@") {
			t.Errorf("%q: the password is shown: %v", in, err)
		}
	}
}

func TestReadCallback(t *testing.T) {
	const state = "the-state"
	tests := []struct {
		name, query, code string
		err               error
		denied            string
	}{
		{name: "schwab's code", query: "code=C0.abc%40&session=x&state=the-state", code: "C0.abc@"},
		{name: "reserved characters", query: "code=C0.a%2Bb%2Fc%40&state=the-state", code: "C0.a+b/c@"},
		{name: "a raw plus is a plus", query: "code=C0.a+b@&state=the-state", code: "C0.a+b@"},
		{name: "decoded once", query: "code=C0.%2540&state=the-state", code: "C0.%40"},
		{name: "wrong state", query: "code=C&state=other", err: ErrState},
		{name: "no state", query: "code=C", err: ErrState},
		{name: "error with a wrong state", query: "error=access_denied&state=x", err: ErrState},
		{name: "denied", query: "error=access_denied&error_description=The+user%20said%0Ano&state=the-state", denied: "access_denied: The user said no"},
		{name: "no code", query: "session=x&state=the-state", err: ErrNoCode},
		{name: "code twice", query: "code=a&code=b&state=the-state", err: errors.New(`gives "code" twice`)},
		{name: "bad escape", query: "code=%zz&state=the-state", err: errors.New("not validly encoded")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, err := ReadCallback(tt.query, state)
			var denied *DeniedError
			switch {
			case tt.denied != "":
				if !errors.As(err, &denied) || !strings.Contains(err.Error(), tt.denied) || exit.Code(err) != exit.NoPerm {
					t.Errorf("err = %v, want a denial with %q, exit 77", err, tt.denied)
				}
			case tt.err != nil:
				if err == nil || (!errors.Is(err, tt.err) && !strings.Contains(err.Error(), tt.err.Error())) {
					t.Errorf("err = %v, want %v", err, tt.err)
				}
			case err != nil || code != tt.code:
				t.Errorf("code %q, err %v; want %q", code, err, tt.code)
			}
		})
	}
	// A pasted URL must be this callback's.
	cb, _ := url.Parse("https://127.0.0.1:8182")
	if code, err := ReadRedirectURL(" https://127.0.0.1:8182/?code=C%40&state=the-state\n", cb, state); err != nil || code != "C@" {
		t.Errorf("pasted URL: %q, %v", code, err)
	}
	for _, bad := range []string{"C%40", "https://127.0.0.1:9999/?code=C&state=the-state", "https://127.0.0.1:8182/x?code=C&state=the-state"} {
		if _, err := ReadRedirectURL(bad, cb, state); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

// browser plays the user's browser: it accepts the login's throwaway
// certificate only when its fingerprint is the one the login printed.
// Only tests skip the usual verification, never the product.
func browser(fingerprint string) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error {
				if got := Fingerprint(cs.PeerCertificates[0].Raw); got != fingerprint {
					return fmt.Errorf("certificate %s, want the printed %s", got, fingerprint)
				}
				return nil
			},
		}},
	}
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// The callback server refuses what is not this login's redirect and goes
// on waiting; the right one hands its code to Wait, and the browser's page
// says what happened, without the code.
func TestCallbackServer(t *testing.T) {
	port := freePort(t)
	cb, _ := CheckCallbackURL("https://127.0.0.1:" + port + "/cb")
	srv, err := ListenCallback(cb, "st", nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := browser(srv.Fingerprint)
	base := "https://127.0.0.1:" + port

	if code, _ := get(t, c, base+"/other?code=C&state=st"); code != 404 {
		t.Errorf("other path: %d", code)
	}
	if code, body := get(t, c, base+"/cb?code=C&state=wrong"); code != 400 || !strings.Contains(body, "does not match") {
		t.Errorf("wrong state: %d %s", code, body)
	}
	if code, _ := get(t, c, base+"/cb?state=st"); code != 400 {
		t.Errorf("no code: %d", code)
	}

	type waited struct {
		code  string
		reply func(Outcome)
		err   error
	}
	got := make(chan waited, 1)
	go func() {
		code, reply, err := srv.Wait(context.Background())
		got <- waited{code, reply, err}
	}()
	select {
	case w := <-got:
		t.Fatalf("Wait returned before the right redirect: %+v", w)
	case <-time.After(50 * time.Millisecond):
	}
	page := make(chan string, 1)
	go func() {
		resp, err := c.Get(base + "/cb?code=C0.x%2By%2Fz%40&session=s&state=st")
		if err != nil {
			page <- err.Error()
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		page <- fmt.Sprint(resp.StatusCode, " ", string(body))
	}()
	w := <-got
	if w.err != nil || w.code != "C0.x+y/z@" {
		t.Fatalf("Wait: %q, %v", w.code, w.err)
	}
	w.reply(Outcome{OK: true, Message: "Saved."})
	if p := <-page; !strings.HasPrefix(p, "200 ") || !strings.Contains(p, "Saved.") || strings.Contains(p, "C0.") {
		t.Errorf("page: %s", p)
	}
	// The code is used once: a second redirect is refused.
	if code, _ := get(t, c, base+"/cb?code=C2&state=st"); code != 409 {
		t.Errorf("second redirect: %d", code)
	}
}

func TestCallbackDenied(t *testing.T) {
	port := freePort(t)
	cb, _ := CheckCallbackURL("https://127.0.0.1:" + port)
	srv, err := ListenCallback(cb, "st", nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	errc := make(chan error, 1)
	go func() { _, _, err := srv.Wait(context.Background()); errc <- err }()
	code, body := get(t, browser(srv.Fingerprint), "https://127.0.0.1:"+port+"/?error=access_denied&error_description=no&state=st")
	err = <-errc
	var d *DeniedError
	if !errors.As(err, &d) || d.Code != "access_denied" || code != 403 || !strings.Contains(body, "access_denied") {
		t.Errorf("Wait: %v; page %d %s", err, code, body)
	}
}

// A busy port ends the login before the URL is shown, naming the port.
func TestCallbackPortBusy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	cb, _ := CheckCallbackURL("https://127.0.0.1:" + port)
	_, err = ListenCallback(cb, "st", nil, slog.New(slog.DiscardHandler))
	if exit.Code(err) != exit.TempFail || !strings.Contains(err.Error(), "callback port "+port+" is busy") || !strings.Contains(exit.Hint(err), "--manual") {
		t.Errorf("err = %v (exit %d, hint %q)", err, exit.Code(err), exit.Hint(err))
	}
}

// The authorization_code grant against the fake Schwab: a code is single
// use, expires, and is bound to its redirect_uri; each refusal is exit 77
// with the login's hint.
func TestExchange(t *testing.T) {
	const cbURL = "https://127.0.0.1:8182"
	fake := harness.NewSchwab(harness.SchwabConfig{AppKey: "K", AppSecret: "S", RefreshToken: "RT-old", CallbackURL: cbURL, CodeTTL: 200 * time.Millisecond})
	hs := httptest.NewServer(fake.Handler())
	defer hs.Close()
	defer fake.Close()
	client := &Client{URL: hs.URL + harness.TokenPath, App: App{Key: "K", Secret: "S"}, HTTP: NewHTTPClient(5 * time.Second), Log: slog.New(slog.DiscardHandler), Backoff: time.Millisecond}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	newCode := func() string {
		resp, err := noFollow.Get(AuthorizeURL(hs.URL+harness.AuthorizePath, "K", cbURL, "st"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		code, err := ReadCallback(loc.RawQuery, "st")
		if err != nil {
			t.Fatalf("redirect %s: %v", loc, err)
		}
		return code
	}
	ctx := context.Background()

	code := newCode()
	if !strings.ContainsAny(code, "@+/") {
		t.Errorf("code %q lacks reserved characters", code)
	}
	r, err := client.Exchange(ctx, code, cbURL)
	if err != nil || r.RefreshToken == "" || r.RefreshToken == "RT-old" || r.AccessToken == "" {
		t.Fatalf("exchange: %+v, %v", r, err)
	}
	refused := func(name string, err error) {
		t.Helper()
		var rej *RejectedError
		if !errors.As(err, &rej) || rej.Grant != GrantCode || exit.Code(err) != exit.NoPerm ||
			!strings.Contains(err.Error(), "authorization code") || !strings.Contains(exit.Hint(err), "refresh-token login") {
			t.Errorf("%s: %v (hint %q)", name, err, exit.Hint(err))
		}
	}
	_, err = client.Exchange(ctx, code, cbURL)
	refused("reused", err)
	_, err = client.Exchange(ctx, "C0.bogus@", cbURL)
	refused("unknown", err)
	_, err = client.Exchange(ctx, newCode(), "https://127.0.0.1:9999")
	refused("other redirect_uri", err)
	code = newCode()
	time.Sleep(300 * time.Millisecond)
	_, err = client.Exchange(ctx, code, cbURL)
	refused("expired", err)
	if got := fake.Requests(); got != 5 {
		t.Errorf("%d token requests, want 5 (no retry of a refusal)", got)
	}
}
