package oauth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/refresh-token/refresh-token/internal/exit"
)

// App holds the Schwab app credentials used for HTTP Basic auth.
type App struct {
	Key    string
	Secret string
}

// defaultBackoff is Client's first pause when Backoff is zero.
const defaultBackoff = time.Second

// Client posts the refresh_token and authorization_code grants. It is the
// only retry layer: the transport does not retry on its own.
type Client struct {
	URL      string
	App      App
	HTTP     *http.Client
	Log      *slog.Logger
	Attempts int           // default 3
	Backoff  time.Duration // first pause, doubled each time, with jitter; default 1s
	MaxWait  time.Duration // cap on one pause, Retry-After included; default 30s
}

// Refresh exchanges refreshToken for a new access token.
func (c *Client) Refresh(ctx context.Context, refreshToken string) (*Response, error) {
	return c.post(ctx, url.Values{"grant_type": {GrantRefresh}, "refresh_token": {refreshToken}})
}

// post sends one grant, retrying temporary failures.
func (c *Client) post(ctx context.Context, form url.Values) (*Response, error) {
	attempts := c.Attempts
	if attempts <= 0 {
		attempts = 3
	}
	backoff := cmp0(c.Backoff, defaultBackoff)
	maxWait := cmp0(c.MaxWait, 30*time.Second)
	var err error
	for i := 1; ; i++ {
		var r *Response
		r, err = c.once(ctx, form)
		var tmp *TemporaryError
		if err == nil || !errors.As(err, &tmp) || i >= attempts {
			if err != nil && tmp != nil && attempts > 1 {
				err = fmt.Errorf("%d attempts failed, last: %w", attempts, err)
			}
			return r, err
		}
		// Full jitter around an exponential step keeps many clients from
		// retrying in step; Retry-After wins when it asks for longer.
		wait := backoff<<(i-1)/2 + jitter(backoff<<(i-1))
		wait = min(max(wait, tmp.RetryAfter), maxWait)
		c.Log.Warn(fmt.Sprintf("Token request attempt %d/%d failed: %v; retrying in %s", i, attempts, err, wait.Round(time.Millisecond)))
		if err := pause(ctx, wait); err != nil {
			return nil, &TemporaryError{Reason: "gave up waiting to retry", Err: err}
		}
	}
}

// jitter returns a random duration in [0, d). Tests replace it, and pause,
// to check the backoff arithmetic without waiting or guessing.
var jitter = rand.N[time.Duration]

// pause waits d, or until ctx is done.
var pause = func(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func cmp0(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func (c *Client) once(ctx context.Context, form url.Values) (*Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, strings.NewReader(form.Encode()))
	if err != nil {
		// url.Error quotes the URL it could not use, password included.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			uerr.URL = RedactURL(uerr.URL)
		}
		return nil, exit.Fail(exit.Config, "check --token-url", "token request: %w", err)
	}
	// RFC 6749 section 2.3.1: form-encode each part before Basic auth.
	req.SetBasicAuth(url.QueryEscape(c.App.Key), url.QueryEscape(c.App.Secret))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, networkError(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, &TemporaryError{Status: resp.StatusCode, Reason: "reading the response", Err: err}
	}
	r, err := Classify(resp.StatusCode, resp.Header, body)
	if err == nil && !strings.EqualFold(r.TokenType, "Bearer") {
		// The bot uses the access token as a Bearer token whatever the
		// answer says; an odd type is worth a look, not a failed run.
		c.Log.Warn(fmt.Sprintf("Token response has token_type %q, not Bearer; using the token as a Bearer token", printable(r.TokenType, 40)))
	}
	return r, err
}

// networkError classifies a failed request. Certificate errors are not
// temporary in any useful sense, but they are not a rejection of the token
// either; they stay 75 with the certificate named, so an operator sees them.
func networkError(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	var nerr net.Error
	var cerr *tls.CertificateVerificationError
	switch {
	case errors.As(err, &cerr):
		return &TemporaryError{Reason: "the token endpoint's TLS certificate did not verify", Err: err,
			Hint: "check the system's CA certificates, any TLS-intercepting proxy (HTTPS_PROXY), and --token-url; verification is never turned off"}
	case errors.As(err, &nerr) && nerr.Timeout():
		return &TemporaryError{Reason: "token request timed out", Err: err}
	default:
		return &TemporaryError{Reason: "token request failed", Err: err}
	}
}

// NewHTTPClient returns the client used for the token endpoint: its own
// transport (proxies from the environment, TLS verification always on), no
// redirects (credentials must not follow one) and a per-request timeout.
func NewHTTPClient(timeout time.Duration) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	return &http.Client{
		Transport: t,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// CheckURL accepts https, and plain http only for loopback hosts. Its
// errors quote the URL without its password.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return exit.Fail(exit.Config, "give an absolute https URL", "token URL %q is not a valid URL", RedactURL(raw))
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if IsLoopback(u.Hostname()) {
			return nil
		}
		return exit.Fail(exit.Config, "use https; plain http is allowed only for loopback test endpoints",
			"token URL %s uses plain http off loopback", u.Redacted())
	}
	return exit.Fail(exit.Config, "use an https URL", "token URL %s: unsupported scheme %q", u.Redacted(), u.Scheme)
}

// RedactURL returns raw fit for a log line: a password in its user part
// replaced by "xxxxx" (url.URL.Redacted). A URL that does not parse, or
// parses without "//" ("user:pass@host" is scheme "user"), loses its whole
// user part instead: the parser saw none to redact.
func RedactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Opaque == "" {
		return u.Redacted()
	}
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		rest = raw
	}
	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority = rest[:i]
	}
	at := strings.LastIndexByte(authority, '@')
	if at < 0 {
		return raw
	}
	start := len(raw) - len(rest)
	return raw[:start] + "xxxxx" + raw[start+at:]
}

// IsLoopback reports whether host names the loopback interface.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
