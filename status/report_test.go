package status

import (
	"os"
	"os/user"
	"strconv"
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
