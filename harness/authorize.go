package harness

import (
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// AuthorizePath is the path of Schwab's authorization endpoint, where the
// browser login starts.
const AuthorizePath = "/v1/oauth/authorize"

// DefaultCallbackURL is the callback URL a fake endpoint accepts when
// SchwabConfig.CallbackURL is empty: the one Schwab's docs suggest.
const DefaultCallbackURL = "https://127.0.0.1:8182"

// DefaultCodeTTL is how long an authorization code lives: Schwab's expire
// within about 30 seconds.
const DefaultCodeTTL = 30 * time.Second

// Authorize selects what the fake authorization endpoint does with a
// browser that arrives there.
type Authorize string

const (
	// AuthorizeAllow redirects at once to the callback URL with a code and
	// the state, as if the user had logged in and pressed Allow.
	AuthorizeAllow Authorize = "allow"
	// AuthorizeDeny redirects with error=access_denied and the state, as
	// when the user does not allow the app.
	AuthorizeDeny Authorize = "deny"
)

// ParseAuthorize reads allow or deny.
func ParseAuthorize(s string) (Authorize, error) {
	switch a := Authorize(strings.TrimSpace(s)); a {
	case AuthorizeAllow, AuthorizeDeny:
		return a, nil
	}
	return "", fmt.Errorf("unknown authorize mode %q (want allow or deny)", s)
}

// codeGrant is one authorization code the fake endpoint handed out.
type codeGrant struct {
	redirectURI string
	issued      time.Time
	used        bool
}

// authState is the browser-login half of the fake endpoint.
type authState struct {
	mu    sync.Mutex
	mode  Authorize
	codes map[string]*codeGrant
}

func newAuthState(cfg SchwabConfig) *authState {
	mode := cfg.Authorize
	if mode == "" {
		mode = AuthorizeAllow
	}
	return &authState{mode: mode, codes: map[string]*codeGrant{}}
}

func (s *Schwab) callbackURL() string {
	if s.cfg.CallbackURL == "" {
		return DefaultCallbackURL
	}
	return s.cfg.CallbackURL
}

func (s *Schwab) codeTTL() time.Duration {
	if s.cfg.CodeTTL <= 0 {
		return DefaultCodeTTL
	}
	return s.cfg.CodeTTL
}

// SetAuthorize switches what the authorization endpoint does.
func (s *Schwab) SetAuthorize(a Authorize) {
	s.auth.mu.Lock()
	defer s.auth.mu.Unlock()
	s.auth.mode = a
}

// newCode makes a code shaped like Schwab's ("C0." ... "@") that carries
// the reserved characters '+' and '/' too, so that a client that does not
// decode it exactly once is caught.
func newCode() string {
	t := rand.Text()
	return "C0." + t[:13] + "+" + t[13:] + "/" + rand.Text()[:8] + "@"
}

// authorize answers GET /v1/oauth/authorize as Schwab does once the user
// has logged in: a redirect to redirect_uri with a code (or an error) and
// the state. A wrong client_id, response_type or redirect_uri gets an error
// page and no redirect, as Schwab's login pages do.
func (s *Schwab) authorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeHTML(w, http.StatusMethodNotAllowed, errorPage("method must be GET"))
		return
	}
	q := r.URL.Query()
	switch {
	case q.Get("client_id") != s.cfg.AppKey:
		s.logf("authorize: unknown client_id")
		writeHTML(w, http.StatusBadRequest, errorPage("invalid client_id"))
		return
	case q.Get("response_type") != "code":
		writeHTML(w, http.StatusBadRequest, errorPage("response_type must be code"))
		return
	case q.Get("redirect_uri") != s.callbackURL():
		s.logf("authorize: redirect_uri %q is not the registered %q", q.Get("redirect_uri"), s.callbackURL())
		writeHTML(w, http.StatusBadRequest, errorPage("redirect_uri does not match the app's registered callback URL"))
		return
	}
	state := q.Get("state")
	a := s.auth
	a.mu.Lock()
	mode := a.mode
	var code string
	if mode == AuthorizeAllow {
		code = newCode()
		a.codes[code] = &codeGrant{redirectURI: q.Get("redirect_uri"), issued: time.Now()}
	}
	a.mu.Unlock()

	loc := q.Get("redirect_uri") + "?"
	if mode == AuthorizeDeny {
		s.logf("authorize: denied")
		loc += "error=access_denied&error_description=" + url.QueryEscape("The user denied the authorization request")
	} else {
		s.logf("authorize: code issued")
		loc += "code=" + url.QueryEscape(code) + "&session=" + url.QueryEscape(rand.Text())
	}
	loc += "&state=" + url.QueryEscape(state)
	w.Header().Set("Location", loc)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusFound)
}

func errorPage(why string) string {
	return "<html><head><title>Error</title></head><body><h1>We are unable to complete your request</h1><p>" +
		why + "</p></body></html>\n"
}

// checkCode validates an authorization_code grant: a code this endpoint
// issued, unused, younger than the code TTL, with the redirect_uri of its
// authorization request. Any code is used up by its first exchange, even
// one that fails. On success the login's new refresh token replaces the
// old one, which stops working, as after a real login.
func (s *Schwab) checkCode(w http.ResponseWriter, r *http.Request) bool {
	code := r.PostForm.Get("code")
	a := s.auth
	a.mu.Lock()
	g := a.codes[code]
	var why string
	switch {
	case g == nil:
		why = "unknown"
	case g.used:
		why = "already used"
	case time.Since(g.issued) > s.codeTTL():
		why = "expired"
	case r.PostForm.Get("redirect_uri") != g.redirectURI:
		why = "redirect_uri mismatch"
	}
	if g != nil {
		g.used = true
	}
	a.mu.Unlock()
	if why != "" {
		s.logf("rejected: authorization code %s", why)
		writeError(w, http.StatusBadRequest, "invalid_grant", codeErrors[why])
		return false
	}
	s.mu.Lock()
	s.refreshToken = "RT-" + rand.Text()
	s.mu.Unlock()
	return true
}

// codeErrors are the error_description of each refused code. Schwab does
// not document its texts for these; the shape is its usual JSON error.
var codeErrors = map[string]string{
	"unknown":               "Bad authorization code: the code is not valid",
	"already used":          "Bad authorization code: the code has already been used",
	"expired":               "Bad authorization code: AuthorizationCode has expired",
	"redirect_uri mismatch": "Bad authorization code: redirect_uri does not match the authorization request",
}

// controlAuthorize is POST /control/authorize: body "allow" or "deny".
func (s *Schwab) controlAuthorize(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64))
	a, err := ParseAuthorize(string(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.SetAuthorize(a)
	s.logf("authorize set to %s", a)
	fmt.Fprintln(w, a)
}
