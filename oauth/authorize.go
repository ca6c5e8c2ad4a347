package oauth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/refresh-token/refresh-token/internal/exit"
)

// DefaultAuthorizeURL is Schwab's authorization endpoint, where the browser
// login starts.
const DefaultAuthorizeURL = "https://api.schwabapi.com/v1/oauth/authorize"

// CallbackHost is the only host a callback URL may name: the login's own
// listener, as schwab-py requires too.
const CallbackHost = "127.0.0.1"

// codeHint is what to do when Schwab refuses a login's code.
const codeHint = "run 'refresh-token login' again and finish it at once: a code is single use and expires within about 30 seconds; if it keeps failing, check app_key, app_secret and that callback_url is exactly the app's registered callback URL"

// Exchange trades the authorization code of a browser login for tokens:
// the authorization_code grant, with the same retries, classification and
// exit codes as a refresh. redirectURI is the callback URL the login used.
func (c *Client) Exchange(ctx context.Context, code, redirectURI string) (*Response, error) {
	r, err := c.post(ctx, url.Values{"grant_type": {GrantCode}, "code": {code}, "redirect_uri": {redirectURI}})
	var rej *RejectedError
	if errors.As(err, &rej) {
		rej.Grant = GrantCode
	}
	return r, err
}

// NewState returns the login's state: 256 random bits, URL-safe.
func NewState() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// AuthorizeURL is the URL that starts a browser login, with its parameters
// in the order Schwab documents them.
func AuthorizeURL(base, appKey, callbackURL, state string) string {
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "response_type=code&client_id=" + url.QueryEscape(appKey) +
		"&redirect_uri=" + url.QueryEscape(callbackURL) + "&state=" + url.QueryEscape(state)
}

// CheckAuthorizeURL accepts https, and plain http only for loopback hosts,
// as CheckURL does for the token URL.
func CheckAuthorizeURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return exit.Fail(exit.Config, "give an absolute https URL in --authorize-url", "authorize URL %q is not a valid URL", RedactURL(raw))
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && IsLoopback(u.Hostname()):
		return nil
	case u.Scheme == "http":
		return exit.Fail(exit.Config, "use https; plain http is allowed only for loopback test endpoints",
			"authorize URL %s uses plain http off loopback", RedactURL(raw))
	}
	return exit.Fail(exit.Config, "use an https URL in --authorize-url", "authorize URL %s: unsupported scheme %q", RedactURL(raw), u.Scheme)
}

// CheckCallbackURL reads the app's callback_url: https on 127.0.0.1, with
// an optional port (443 without one) and path, nothing else. Its errors are
// exit 78.
func CheckCallbackURL(raw string) (*url.URL, error) {
	const hint = "set callback_url in the app config to the app's registered callback URL, https on 127.0.0.1 with a port, e.g. https://127.0.0.1:8182 (register the same URL in the Schwab developer portal)"
	if raw == "" {
		return nil, exit.Fail(exit.Config, hint, "the app config has no callback_url")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, exit.Fail(exit.Config, hint, "callback_url %q is not a valid URL", RedactURL(raw))
	}
	bad := func(why string) (*url.URL, error) {
		return nil, exit.Fail(exit.Config, hint, "callback_url %s: %s", RedactURL(raw), why)
	}
	switch {
	case u.Scheme != "https":
		return bad("must be https (the login serves the callback over TLS)")
	case u.User != nil:
		return bad("must not carry a user name or password")
	case u.Hostname() != CallbackHost:
		return bad("the host must be " + CallbackHost + ", where the login listens")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return bad("must not carry a query or fragment")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return bad("port " + p + " is out of range")
		}
	}
	return u, nil
}

// CallbackPort is the port the login listens on for u: 443 without one.
func CallbackPort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	return "443"
}

// callbackPath is the path the browser is sent back to.
func callbackPath(u *url.URL) string {
	if u.Path == "" {
		return "/"
	}
	return u.Path
}

// ErrState is a redirect whose state is not this login's: a stale tab,
// another login, or a forged request. It is never exchanged.
var ErrState = errors.New("the redirect's state does not match this login's")

// ErrNoCode is a redirect with the right state but neither a code nor an
// error.
var ErrNoCode = errors.New("the redirect carries no code")

// DeniedError is the login ended by Schwab or the user: the redirect
// carried error=... (access_denied when the user did not press Allow).
type DeniedError struct {
	Code        string
	Description string
}

func (e *DeniedError) Error() string {
	msg := "Schwab ended the login: " + e.Code
	if e.Description != "" {
		msg += ": " + e.Description
	}
	return msg
}

// ExitCode is 77, as for a rejected grant.
func (e *DeniedError) ExitCode() int { return exit.NoPerm }

// HintText says what to do.
func (e *DeniedError) HintText() string {
	if e.Code == "access_denied" {
		return "run 'refresh-token login' again, log in and press Allow (or Done) on Schwab's pages"
	}
	return "run 'refresh-token login' again; if Schwab keeps refusing, check the app's status and callback URL in the Schwab developer portal"
}

// ReadCallback checks the query of a redirect to the callback URL against
// the login's state and returns the authorization code. The code is
// percent-decoded exactly once, and '+' stays '+': Schwab's codes carry
// reserved characters ('@', and possibly '+' or '/'), and a code never
// holds a space. A wrong or missing state is ErrState whatever else the
// query says; an error from Schwab is a *DeniedError.
func ReadCallback(rawQuery, state string) (string, error) {
	q, err := parseQuery(rawQuery)
	if err != nil {
		return "", err
	}
	if subtle.ConstantTimeCompare([]byte(q["state"]), []byte(state)) != 1 || state == "" {
		return "", ErrState
	}
	if e := q["error"]; e != "" {
		return "", &DeniedError{Code: printable(e, 80), Description: printable(q["error_description"], 300)}
	}
	if q["code"] == "" {
		return "", ErrNoCode
	}
	return q["code"], nil
}

// parseQuery decodes a query string. The code is percent-decoded only,
// its '+' kept; the other values are form-decoded ('+' is a space: Schwab's
// error_description is text). A key given twice is refused, since which
// value counts would be a guess.
func parseQuery(raw string) (map[string]string, error) {
	q := map[string]string{}
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key, err1 := url.QueryUnescape(k)
		unescape := url.QueryUnescape
		if key == "code" {
			unescape = url.PathUnescape
		}
		val, err2 := unescape(v)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("the redirect's query is not validly encoded")
		}
		if _, dup := q[key]; dup {
			return nil, fmt.Errorf("the redirect's query gives %q twice", key)
		}
		q[key] = val
	}
	return q, nil
}

// ReadRedirectURL reads the whole URL the browser was redirected to, as a
// user pastes it in a manual login, and checks it as ReadCallback does.
func ReadRedirectURL(raw string, callback *url.URL, state string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Scheme == "" {
		return "", errors.New("that is not a URL: paste the whole address from the browser's address bar")
	}
	if !strings.EqualFold(u.Host, callback.Host) || callbackPath(u) != callbackPath(callback) {
		return "", fmt.Errorf("that URL is not the callback URL %s: paste the address the browser was sent to after the login", callback.Redacted())
	}
	return ReadCallback(u.RawQuery, state)
}
