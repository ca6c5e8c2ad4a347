package cli

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/testutil"
)

// deliver refuses an access token that expired, however long ago, and
// says how long ago.
func TestDeliverFarPast(t *testing.T) {
	now := time.Now().Unix()
	for _, tt := range []struct {
		expiresAt int64
		ago       string
	}{
		{now - 30*24*3600, "expired 30.0 days ago: not pushed"},
		{-1, "days ago: not pushed"},
		{math.MinInt64, "expired more than 100 years ago: not pushed"},
	} {
		dir := t.TempDir()
		p := testutil.Tokens(t, dir, tt.expiresAt, now-3600)
		var out, errb bytes.Buffer
		code := Main(Build{}, []string{"deliver", "--log-file=", "--token-file", p, "--socket", dir + "/no.sock"}, &out, &errb)
		if code != exit.TempFail || !strings.Contains(errb.String(), tt.ago) || testutil.Garbled.MatchString(errb.String()) {
			t.Errorf("expires_at %d: exit %d, want 75 and %q\n%s", tt.expiresAt, code, tt.ago, errb.String())
		}
	}
}
