package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

type schwabCmd struct {
	Addr         string        `default:"127.0.0.1:0" placeholder:"HOST:PORT" help:"Loopback address to listen on; port 0 picks a free one (default: ${default})."`
	AppKey       string        `required:"" placeholder:"KEY" help:"App key the endpoint accepts."`
	AppSecret    string        `required:"" placeholder:"SECRET" help:"App secret the endpoint accepts."`
	RefreshToken string        `required:"" placeholder:"TOKEN" help:"Refresh token the endpoint accepts."`
	ExpiresIn    int           `default:"1800" placeholder:"SECONDS" help:"expires_in of the tokens it issues (default: ${default})."`
	Mode         []string      `default:"ok" placeholder:"MODE" help:"Answer per request, repeatable or comma-separated; the last repeats. Modes: ok, invalid_grant, invalid_client, unsupported_token_type, other_4xx, 500, 502, 503, 429, 408, html, html200, slow, hang, malformed, missing, oversized, no_refresh, rotate, down; flaky-then-ok is 503,503,ok (default: ${default})."`
	Delay        time.Duration `default:"2s" placeholder:"DUR" help:"How long the slow mode waits (default: ${default})."`
	URLFile      string        `name:"url-file" placeholder:"PATH" help:"Also write the token URL to PATH once listening."`
	CallbackURL  string        `name:"callback-url" default:"https://127.0.0.1:8182" placeholder:"URL" help:"The app's registered callback URL: ${authorize_path} redirects only there, and a code is exchanged only with it (default: ${default})."`
	Authorize    string        `default:"allow" enum:"allow,deny" help:"What ${authorize_path} does: allow redirects at once with a code and the state, as if the user logged in and pressed Allow; deny redirects with error=access_denied (default: ${default})."`
	CodeTTL      time.Duration `name:"code-ttl" default:"30s" placeholder:"DUR" help:"How long an authorization code can be exchanged; each is single use (default: ${default})."`

	modes []Mode
}

// Validate is called by kong, so a bad value is a usage error.
func (c *schwabCmd) Validate() error {
	c.modes = nil
	for _, m := range c.Mode {
		modes, err := ParseModes(m)
		if err != nil {
			return fmt.Errorf("--mode: %w", err)
		}
		c.modes = append(c.modes, modes...)
	}
	if c.ExpiresIn <= 0 {
		return errors.New("--expires-in must be positive")
	}
	return checkLoopback(c.Addr)
}

// checkLoopback refuses addresses other machines could reach: the fake
// endpoint accepts any caller and its control endpoint is unauthenticated.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %w", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--addr %q: not a loopback address", addr)
	}
	return nil
}

func (c *schwabCmd) Run(ctx context.Context, s *streams) error {
	fake := NewSchwab(SchwabConfig{
		AppKey:       c.AppKey,
		AppSecret:    c.AppSecret,
		RefreshToken: c.RefreshToken,
		ExpiresIn:    c.ExpiresIn,
		Modes:        c.modes,
		Delay:        c.Delay,
		Log:          s.stderr,
		CallbackURL:  c.CallbackURL,
		Authorize:    Authorize(c.Authorize),
		CodeTTL:      c.CodeTTL,
	})
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.Addr, err)
	}
	srv := &http.Server{Handler: fake.Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	url := "http://" + ln.Addr().String() + TokenPath
	fmt.Fprintln(s.stdout, url)
	if c.URLFile != "" {
		if err := writeFileAtomic(c.URLFile, url+"\n"); err != nil {
			srv.Close()
			return err
		}
	}

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Release the hang and slow modes first, or Shutdown would wait on them.
	fake.Close()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		srv.Close()
	}
	return nil
}
