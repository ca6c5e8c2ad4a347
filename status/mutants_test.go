package status

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/seam"
	"github.com/refresh-token/refresh-token/internal/testutil"
	"github.com/refresh-token/refresh-token/store"
)

// status at the exact ends: an access token expiring this second is
// expired (75); a refresh token exactly 7 days old is past the limit (77).
func TestStatusAtExactExpiry(t *testing.T) {
	now := statusNow.Unix()
	for _, tt := range []struct {
		name             string
		expires, created int64
		code             int
		access, refresh  bool // expired
	}{
		{"access token expires now", now, now - 24*3600, exit.TempFail, true, false},
		{"access token expires in a second", now + 1, now - 24*3600, exit.OK, false, false},
		{"refresh token 7 days old", now + 1200, now - int64(store.RefreshLifetime/time.Second), exit.NoPerm, false, true},
		{"refresh token a second short of 7 days", now + 1200, now - int64(store.RefreshLifetime/time.Second) + 1, exit.OK, false, false},
	} {
		st := Check(t.Context(), Options{TokenFile: testutil.Tokens(t, t.TempDir(), tt.expires, tt.created), Now: statusNow})
		if st.ExitCode != tt.code || st.AccessToken.Expired != tt.access || st.RefreshToken.Expired != tt.refresh {
			t.Errorf("%s: exit %d, expired %v/%v; want %d, %v/%v (%q)", tt.name, st.ExitCode,
				st.AccessToken.Expired, st.RefreshToken.Expired, tt.code, tt.access, tt.refresh, st.Problems)
		}
	}
}

// status reads a half-written token file as run does: again after a pause,
// logging why at debug level to the logger it is given, or to none.
func TestStatusLogsTheReread(t *testing.T) {
	old := seam.Reread
	seam.Reread = []time.Duration{time.Millisecond}
	t.Cleanup(func() { seam.Reread = old })
	p := filepath.Join(t.TempDir(), "tokens.json")
	os.WriteFile(p, []byte(`{"token": {"refresh_token": "RT`), 0o600)
	var logs bytes.Buffer
	st := Check(t.Context(), Options{TokenFile: p, Now: statusNow,
		Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if st.ExitCode != exit.Data || !strings.Contains(logs.String(), "reading it again in case a writer was mid-write") {
		t.Errorf("exit %d, log %q; want 65 and the re-read logged", st.ExitCode, logs.String())
	}
	if st := Check(t.Context(), Options{TokenFile: p, Now: statusNow}); st.ExitCode != exit.Data {
		t.Errorf("without a logger: exit %d, want 65", st.ExitCode)
	}
}
