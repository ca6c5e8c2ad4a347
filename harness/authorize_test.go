package harness

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// authorizeRedirect starts a login at the fake authorization endpoint
// and returns its status and where it redirects, without following.
func authorizeRedirect(t *testing.T, base string, q url.Values) (int, *url.URL) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(base + AuthorizePath + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, loc
}

func loginQuery() url.Values {
	return url.Values{"response_type": {"code"}, "client_id": {testKey}, "redirect_uri": {DefaultCallbackURL}, "state": {"st/+"}}
}

// Allow redirects at once with a code and the state; deny with
// access_denied and the state; a wrong client_id, response_type or
// redirect_uri gets an error page and no redirect. The code exchanges
// once, and the login's new refresh token replaces the old one.
func TestAuthorize(t *testing.T) {
	s, base := startSchwab(t)
	status, loc := authorizeRedirect(t, base, loginQuery())
	q := loc.Query()
	if status != http.StatusFound || loc.Scheme+"://"+loc.Host != DefaultCallbackURL || q.Get("state") != "st/+" || !strings.HasSuffix(q.Get("code"), "@") || q.Get("session") == "" {
		t.Fatalf("allow: %d %s", status, loc)
	}
	rq := goodRequest()
	rq.form = url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {DefaultCallbackURL}}
	if resp := mustDo(t, rq, base); resp.status != 200 || decodeObject(t, resp.body)["refresh_token"] == testRT {
		t.Fatalf("exchange: %d %s", resp.status, resp.body)
	}
	if s.RefreshToken() == testRT {
		t.Error("the old refresh token still works after a login")
	}
	if resp := mustDo(t, rq, base); resp.status != 400 || decodeObject(t, resp.body)["error"] != "invalid_grant" || !strings.Contains(resp.body, "already been used") {
		t.Errorf("reuse: %d %s", resp.status, resp.body)
	}
	old := goodRequest() // the refresh token of before the login
	if resp := mustDo(t, old, base); resp.status != 400 {
		t.Errorf("old refresh token after the login: %d", resp.status)
	}

	s.SetAuthorize(AuthorizeDeny)
	status, loc = authorizeRedirect(t, base, loginQuery())
	if q := loc.Query(); status != http.StatusFound || q.Get("error") != "access_denied" || q.Get("state") != "st/+" || q.Get("code") != "" {
		t.Errorf("deny: %d %s", status, loc)
	}
	s.SetAuthorize(AuthorizeAllow)

	for name, spoil := range map[string]func(url.Values){
		"client_id":     func(q url.Values) { q.Set("client_id", "other") },
		"response_type": func(q url.Values) { q.Set("response_type", "token") },
		"redirect_uri":  func(q url.Values) { q.Set("redirect_uri", "https://127.0.0.1:8182/") },
	} {
		q := loginQuery()
		spoil(q)
		if status, loc := authorizeRedirect(t, base, q); status != http.StatusBadRequest || loc.String() != "" {
			t.Errorf("%s: %d, redirect %q", name, status, loc)
		}
	}
}

func TestControlAuthorize(t *testing.T) {
	_, base := startSchwab(t)
	resp, err := http.Post(base+"/control/authorize", "text/plain", strings.NewReader("deny\n"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, loc := authorizeRedirect(t, base, loginQuery()); resp.StatusCode != 200 || loc.Query().Get("error") != "access_denied" {
		t.Errorf("after POST deny: %d, %s", resp.StatusCode, loc)
	}
	resp, err = http.Post(base+"/control/authorize", "text/plain", strings.NewReader("maybe"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("unknown mode: %d", resp.StatusCode)
	}
}
