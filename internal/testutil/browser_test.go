package testutil

import (
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
)

// The test browser accepts a self-signed certificate only by the
// fingerprint it was given.
func TestBrowserChecksFingerprint(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hi")) }))
	defer srv.Close()
	right := fingerprint(srv.Certificate().Raw)
	if v, err := (Browser{Fingerprint: right}).Open(srv.URL); err != nil || v.Page != "hi" {
		t.Errorf("right fingerprint: %+v, %v", v, err)
	}
	wrong := strings.Repeat("00:", 31) + "00"
	if _, err := (Browser{Fingerprint: wrong}).Open(srv.URL); err == nil || !strings.Contains(err.Error(), "not the printed") {
		t.Errorf("wrong fingerprint: %v", err)
	}
}

// The binaries never link the test browser, the one place that skips the
// usual certificate verification.
func TestBinariesDoNotLinkTheTestBrowser(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command("go", "list", "-deps", "github.com/refresh-token/refresh-token/cmd/refresh-token", "github.com/refresh-token/refresh-token/cmd/bot-sim").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "internal/testutil") {
		t.Error("a binary links internal/testutil")
	}
}
