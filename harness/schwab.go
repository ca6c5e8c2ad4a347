package harness

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// TokenPath is the path of Schwab's token endpoint.
const TokenPath = "/v1/oauth/token"

// MaxTokenBody is the response size the oversized mode exceeds: refresh-token
// refuses token responses larger than this.
const MaxTokenBody = 1 << 20

// DefaultDelay is how long the slow mode waits when SchwabConfig.Delay is zero.
const DefaultDelay = 2 * time.Second

// SchwabConfig describes the app and the token a fake endpoint accepts.
type SchwabConfig struct {
	AppKey       string
	AppSecret    string
	RefreshToken string
	// ExpiresIn is the access token lifetime returned; zero means 1800.
	ExpiresIn int
	// Modes is the answer sequence, one mode per request; the last one
	// repeats. Empty means ok.
	Modes []Mode
	// Delay is how long the slow mode waits; zero means DefaultDelay.
	Delay time.Duration
	// Log, when set, gets a line per request.
	Log io.Writer

	// The browser login (authorize.go): the registered callback URL
	// (empty: DefaultCallbackURL), what the authorization endpoint does
	// (empty: allow), and how long a code lives (zero: DefaultCodeTTL).
	CallbackURL string
	Authorize   Authorize
	CodeTTL     time.Duration
}

// Schwab is a fake of Schwab's token endpoint. It answers at [TokenPath]
// and checks a request as Schwab does: POST, HTTP Basic with the
// URL-encoded app key and secret, a form body with
// grant_type=refresh_token and the refresh token it knows, or
// grant_type=authorization_code with a code from its [AuthorizePath].
type Schwab struct {
	cfg      SchwabConfig
	requests atomic.Int64
	done     chan struct{}
	close    sync.Once

	mu           sync.Mutex
	modes        []Mode
	next         int
	refreshToken string

	auth *authState
}

// NewSchwab returns a fake endpoint. Like regexp.MustCompile it panics on an
// unknown mode; use [ParseModes] for modes from outside the program.
func NewSchwab(cfg SchwabConfig) *Schwab {
	if cfg.ExpiresIn == 0 {
		cfg.ExpiresIn = 1800
	}
	if cfg.Delay == 0 {
		cfg.Delay = DefaultDelay
	}
	s := &Schwab{cfg: cfg, done: make(chan struct{}), refreshToken: cfg.RefreshToken, auth: newAuthState(cfg)}
	s.SetModes(cfg.Modes...)
	return s
}

// SetModes replaces the answer sequence; the next request gets its first
// mode. It panics on an unknown mode.
func (s *Schwab) SetModes(modes ...Mode) {
	for _, m := range modes {
		if !m.valid() {
			panic(fmt.Sprintf("harness: unknown mode %q", m))
		}
	}
	if len(modes) == 0 {
		modes = []Mode{ModeOK}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.modes, s.next = append([]Mode(nil), modes...), 0
}

// Requests returns how many requests reached the token path.
func (s *Schwab) Requests() int { return int(s.requests.Load()) }

// RefreshToken returns the refresh token the endpoint accepts now: the
// configured one until a rotate answer replaced it.
func (s *Schwab) RefreshToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshToken
}

// Close releases requests held by the hang and slow modes, so that a server
// can shut down; later requests in those modes are cut off at once.
func (s *Schwab) Close() { s.close.Do(func() { close(s.done) }) }

func (s *Schwab) nextMode() Mode {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.modes[s.next]
	if s.next < len(s.modes)-1 {
		s.next++
	}
	return m
}

func (s *Schwab) logf(format string, args ...any) {
	if s.cfg.Log != nil {
		fmt.Fprintf(s.cfg.Log, "bot-sim: schwab: "+format+"\n", args...)
	}
}

// ServeHTTP answers one token request with the next mode of the sequence.
func (s *Schwab) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != TokenPath {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint")
		return
	}
	n := s.requests.Add(1)
	mode := s.nextMode()
	s.logf("request %d: mode %s", n, mode)

	// The CDN and gateways in front of Schwab answer before Schwab has
	// looked at the request.
	switch mode {
	case ModeDown:
		cut(w)
		return
	case ModeHang:
		select {
		case <-r.Context().Done():
		case <-s.done:
			cut(w)
		}
		return
	case Mode500:
		writeError(w, http.StatusInternalServerError, "server_error", "Internal Server Error")
		return
	case Mode502:
		writeHTML(w, http.StatusBadGateway, gatewayPage("502 Bad Gateway"))
		return
	case Mode503:
		writeHTML(w, http.StatusServiceUnavailable, gatewayPage("503 Service Temporarily Unavailable"))
		return
	case Mode429:
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, "too_many_requests", "Rate limit exceeded")
		return
	case Mode408:
		writeError(w, http.StatusRequestTimeout, "request_timeout", "Request Timeout")
		return
	case ModeHTML:
		writeHTML(w, http.StatusForbidden, accessDeniedPage)
		return
	case ModeHTML200:
		writeHTML(w, http.StatusOK, accessDeniedPage)
		return
	case ModeSlow:
		select {
		case <-time.After(s.cfg.Delay):
		case <-r.Context().Done():
			return
		case <-s.done:
			cut(w)
			return
		}
	}

	if !s.check(w, r) {
		return
	}
	switch mode {
	case ModeInvalidGrant:
		writeError(w, http.StatusBadRequest, "invalid_grant", "The provided authorization grant is invalid or expired")
	case ModeInvalidClient:
		writeError(w, http.StatusUnauthorized, "invalid_client", "refresh token invalid")
	case ModeUnsupportedTokenType:
		writeRaw(w, http.StatusBadRequest, "application/json", nestedRejection)
	case ModeOther4xx:
		writeError(w, http.StatusForbidden, "access_denied", "The app is not allowed to use this endpoint")
	case ModeMalformed:
		writeRaw(w, http.StatusOK, "application/json", `{"access_token": "AT-`)
	default:
		s.writeToken(w, mode)
	}
}

// check validates a request as Schwab does and answers it when it fails.
func (s *Schwab) check(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "invalid_request", "method must be POST")
		return false
	}
	// RFC 6749 §2.3.1: each part is form-URL-encoded before base64.
	user, pass, ok := r.BasicAuth()
	key, errKey := url.QueryUnescape(user)
	secret, errSecret := url.QueryUnescape(pass)
	if !ok || errKey != nil || errSecret != nil || key != s.cfg.AppKey || secret != s.cfg.AppSecret {
		s.logf("rejected: bad client credentials")
		writeError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed")
		return false
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		s.logf("rejected: content type %q", r.Header.Get("Content-Type"))
		writeError(w, http.StatusBadRequest, "invalid_request", "content type must be application/x-www-form-urlencoded")
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "malformed form body")
		return false
	}
	if gt := r.PostForm.Get("grant_type"); gt == "authorization_code" {
		return s.checkCode(w, r)
	} else if gt != "refresh_token" {
		s.logf("rejected: grant_type %q", gt)
		writeError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be refresh_token or authorization_code")
		return false
	}
	if r.PostForm.Get("refresh_token") != s.RefreshToken() {
		s.logf("rejected: unknown refresh token")
		writeRaw(w, http.StatusBadRequest, "application/json", nestedRejection)
		return false
	}
	return true
}

// tokenResponse has Schwab's fields in Schwab's order, plus padding for
// the oversized mode.
type tokenResponse struct {
	ExpiresIn    int    `json:"expires_in"`
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope"`
	RefreshToken string `json:"refresh_token,omitempty"`
	AccessToken  string `json:"access_token,omitempty"`
	IDToken      string `json:"id_token"`
	Padding      string `json:"padding,omitempty"`
}

func (s *Schwab) writeToken(w http.ResponseWriter, mode Mode) {
	resp := tokenResponse{
		ExpiresIn:    s.cfg.ExpiresIn,
		TokenType:    "Bearer",
		Scope:        "api",
		RefreshToken: s.RefreshToken(),
		AccessToken:  "AT-" + rand.Text(),
		IDToken:      "ID-" + rand.Text(),
	}
	switch mode {
	case ModeMissing:
		resp.AccessToken = ""
	case ModeNoRefresh:
		resp.RefreshToken = ""
	case ModeRotate:
		// The old refresh token stops working, as after a new login.
		resp.RefreshToken = "RT-" + rand.Text()
		s.mu.Lock()
		s.refreshToken = resp.RefreshToken
		s.mu.Unlock()
	case ModeOversized:
		resp.Padding = strings.Repeat("x", MaxTokenBody)
	}
	body, err := json.Marshal(resp)
	if err != nil {
		panic(err) // a struct of strings and ints always marshals
	}
	writeRaw(w, http.StatusOK, "application/json", string(body))
}
