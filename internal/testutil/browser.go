package testutil

import (
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Browser plays the user's browser in a login test: it opens the
// authorization URL at the fake Schwab, which redirects at once, and then
// follows the redirect to the login's HTTPS callback. It trusts the login's
// throwaway certificate only when its SHA-256 fingerprint is the one the
// login printed, as a careful user would. Only this test browser skips the
// usual chain verification; the product never does.
type Browser struct {
	Fingerprint string
	// Hold is waited between Schwab's redirect and the callback, as a slow
	// user or a copy and paste would (a code that expires).
	Hold time.Duration
	// Redirect, when set, may change the callback URL before it is
	// opened (a wrong state) or use its code first (a reused code).
	Redirect func(callback *url.URL) error
	// Timeout bounds each request; zero is 30 s.
	Timeout time.Duration
}

// Visit is what the browser saw at the callback.
type Visit struct {
	Status int
	Page   string
}

// Login opens authURL and follows the login to its callback page.
func (b Browser) Login(authURL string) (Visit, error) {
	timeout := b.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	noFollow := &http.Client{Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(authURL)
	if err != nil {
		return Visit{}, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return Visit{}, fmt.Errorf("authorize: %s, want a redirect", resp.Status)
	}
	cb, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return Visit{}, err
	}
	time.Sleep(b.Hold)
	if b.Redirect != nil {
		if err := b.Redirect(cb); err != nil {
			return Visit{}, err
		}
	}
	return b.Open(cb.String())
}

// Open opens one URL of the login's callback server.
func (b Browser) Open(u string) (Visit, error) {
	timeout := b.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // a throwaway self-signed certificate: checked below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no certificate")
			}
			if got := fingerprint(cs.PeerCertificates[0].Raw); got != b.Fingerprint {
				return fmt.Errorf("certificate fingerprint %s, not the printed %s", got, b.Fingerprint)
			}
			return nil
		},
	}}}
	defer c.CloseIdleConnections()
	resp, err := c.Get(u)
	if err != nil {
		return Visit{}, err
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(resp.Body)
	return Visit{Status: resp.StatusCode, Page: string(page)}, err
}

func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	hex := make([]string, len(sum))
	for i, c := range sum {
		hex[i] = fmt.Sprintf("%02X", c)
	}
	return strings.Join(hex, ":")
}

var (
	authURLLine     = regexp.MustCompile(`(?m)^(https?://\S+\?response_type=code&\S+)$`)
	fingerprintLine = regexp.MustCompile(`(?m)^\s+([0-9A-F]{2}(?::[0-9A-F]{2}){31})$`)
)

// LoginPrompt finds the authorization URL, alone on its line, and the
// certificate fingerprint in what refresh-token login printed; the
// fingerprint is empty with --manual.
func LoginPrompt(out string) (authURL, fingerprint string, ok bool) {
	m := authURLLine.FindStringSubmatch(out)
	if m == nil {
		return "", "", false
	}
	if f := fingerprintLine.FindStringSubmatch(out); f != nil {
		fingerprint = f[1]
	}
	return m[1], fingerprint, true
}

// WaitLoginPrompt polls read (a file or a buffer) for up to 10 s until the
// login has printed its URL and, unless manual, its fingerprint.
func WaitLoginPrompt(read func() string, manual bool) (authURL, fingerprint string, err error) {
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if u, f, ok := LoginPrompt(read()); ok && (manual || f != "") {
			return u, f, nil
		}
	}
	return "", "", fmt.Errorf("no login URL printed within 10s:\n%s", read())
}
