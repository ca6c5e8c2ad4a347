package oauth

import (
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The throwaway certificate: for 127.0.0.1, for serving, valid from a
// minute ago (a browser whose clock is a little behind still takes it) for
// a day, self-issued, and its fingerprint is the SHA-256 the browser shows.
func TestSelfSigned(t *testing.T) {
	before := time.Now()
	cert, fp, err := selfSigned()
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(c.IPAddresses) != 1 || c.IPAddresses[0].String() != CallbackHost {
		t.Errorf("IP addresses %v, want %s alone", c.IPAddresses, CallbackHost)
	}
	if nb := before.Add(-time.Minute).Truncate(time.Second); c.NotBefore.Before(nb.Add(-2*time.Second)) || c.NotBefore.After(nb.Add(time.Second)) {
		t.Errorf("NotBefore %v, want a minute before %v", c.NotBefore, before)
	}
	if na := before.Add(24 * time.Hour); c.NotAfter.Before(na.Add(-2*time.Second)) || c.NotAfter.After(na.Add(2*time.Second)) {
		t.Errorf("NotAfter %v, want a day after %v", c.NotAfter, before)
	}
	if c.Issuer.String() != c.Subject.String() {
		t.Errorf("issuer %s, want the certificate itself (%s)", c.Issuer, c.Subject)
	}
	if fp != Fingerprint(c.Raw) {
		t.Errorf("fingerprint %s, want that of the certificate", fp)
	}
}

func TestFingerprint(t *testing.T) {
	der := []byte("not a certificate, only bytes")
	sum := sha256.Sum256(der)
	var parts []string
	for _, b := range sum {
		parts = append(parts, fmt.Sprintf("%02X", b))
	}
	if got, want := Fingerprint(der), strings.Join(parts, ":"); got != want {
		t.Errorf("Fingerprint = %s, want %s", got, want)
	}
}

// The callback server bounds the wait for a request's header, so that a
// connection that sends nothing cannot hold the login.
func TestCallbackServerBoundsHeaders(t *testing.T) {
	cb, _ := CheckCallbackURL("https://127.0.0.1:" + freePort(t))
	s, err := ListenCallback(cb, "state", nil, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.srv.ReadHeaderTimeout; got != 10*time.Second {
		t.Errorf("ReadHeaderTimeout = %v, want 10s", got)
	}
}

// A rejection names the grant Schwab refused.
func TestRejectedErrorNamesTheGrant(t *testing.T) {
	for _, tt := range []struct {
		err  RejectedError
		want string
	}{
		{RejectedError{Status: 400, Code: "invalid_grant", Description: "expired"}, "Schwab rejected the refresh (HTTP 400, invalid_grant): expired"},
		{RejectedError{Status: 400, Code: "invalid_grant", Grant: GrantCode}, "Schwab rejected the login's authorization code (HTTP 400, invalid_grant)"},
		{RejectedError{Status: 401}, "Schwab rejected the refresh (HTTP 401)"},
	} {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}
