package status

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/internal/testutil"
)

// The wait per socket is the one given, else 5 s: zero and less are unset.
func TestTimeoutDefault(t *testing.T) {
	for given, want := range map[time.Duration]time.Duration{0: 5 * time.Second, -time.Second: 5 * time.Second, time.Nanosecond: time.Nanosecond, 2 * time.Second: 2 * time.Second} {
		if got := (Options{Timeout: given}).timeout(); got != want {
			t.Errorf("timeout(%v) = %v, want %v", given, got, want)
		}
	}
}

// The report gives the file's owner by name and uid, and the access
// token's lifetime as the file says it.
func TestReportOwnerAndLifetime(t *testing.T) {
	p := testutil.Tokens(t, t.TempDir(), statusNow.Unix()+600, statusNow.Unix()-3600)
	st := Check(t.Context(), Options{TokenFile: p, Now: statusNow})
	u, err := user.LookupId(strconv.Itoa(os.Geteuid()))
	if err != nil {
		t.Skipf("no name for our uid: %v", err)
	}
	if st.TokenFile.Owner != u.Username || st.TokenFile.OwnerUID == nil || *st.TokenFile.OwnerUID != os.Geteuid() {
		t.Errorf("owner %q (uid %v), want %q (%d)", st.TokenFile.Owner, st.TokenFile.OwnerUID, u.Username, os.Geteuid())
	}
	a := st.AccessToken
	if a == nil || a.LifetimeSeconds != 1800 || a.IssuedAtUnix != statusNow.Unix()+600-1800 || a.RemainingSeconds != 600 {
		t.Errorf("access token %+v, want a lifetime of 1800 s, 600 s left", a)
	}
}

// With run's metrics file, the report says what each socket did with the
// token in the last run; a socket the file does not name, and a missing
// file, say nothing.
func TestStatusLastReply(t *testing.T) {
	dir := t.TempDir()
	p := testutil.Tokens(t, dir, statusNow.Unix()+1200, statusNow.Unix()-3600)
	sock, _ := testutil.Listen(t)
	other := filepath.Join(dir, "other.sock")
	prom := filepath.Join(dir, "refresh_token.prom")
	os.WriteFile(prom, []byte("refresh_token_delivery_success 0\n"+
		"refresh_token_delivery_reply{socket="+strconv.Quote(sock)+",reply=\"closed\"} 1\n"+
		"refresh_token_delivery_reply{socket=\"/elsewhere\",reply=\"failed\"} 1\n"), 0o644)
	st := Check(t.Context(), Options{TokenFile: p, Sockets: []string{sock, other}, Timeout: time.Second, Now: statusNow, MetricsFile: prom})
	if st.Sockets[0].LastReply != "closed" || st.Sockets[1].LastReply != "" {
		t.Errorf("last replies %q, %q; want closed and none", st.Sockets[0].LastReply, st.Sockets[1].LastReply)
	}
	var text strings.Builder
	st.WriteText(&text)
	if !strings.Contains(text.String(), "last run") || !strings.Contains(text.String(), "read the token and closed without a reply (TokenReceiver)") {
		t.Errorf("report lacks the last answer:\n%s", text.String())
	}
	st = Check(t.Context(), Options{TokenFile: p, Sockets: []string{sock}, Timeout: time.Second, Now: statusNow, MetricsFile: filepath.Join(dir, "none.prom")})
	if st.Sockets[0].LastReply != "" {
		t.Errorf("without a metrics file: %q", st.Sockets[0].LastReply)
	}
}
