package status

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/testutil"
)

// The status report says sensible things about times far off: no
// overflowed durations, a refresh token from the future named as such.
func TestStatusFarTimes(t *testing.T) {
	now := statusNow.Unix()
	tests := []struct {
		name      string
		expiresAt int64
		created   int64
		code      int
		text      []string
	}{
		{"expires in the year 3000", 32503680000, now - 3600, 0, []string{"valid, expires in more than 100 years"}},
		{"expired before the epoch", -1, now - 3600, exit.TempFail, []string{"EXPIRED 20833.3 days ago"}},
		{"expires_at the smallest int64", math.MinInt64, now - 3600, exit.TempFail, []string{"EXPIRED more than 100 years ago"}},
		{"expires_at the largest int64", math.MaxInt64, now - 3600, 0, []string{"valid, expires in more than 100 years"}},
		{"login 2 hours in the future", now + 1200, now + 2*3600, 0, []string{
			"created 2.0 hours in the future (clock moved backwards?)",
			"token file's creation_timestamp is 2.0 hours in the future (clock moved backwards?): the 7-day login deadline cannot be told",
		}},
		{"login at the epoch", now + 1200, 1, exit.NoPerm, []string{"EXPIRED: 20833.3 days old, past the 7-day limit by 20826.3 days"}},
		{"login at the smallest int64", now + 1200, math.MinInt64, exit.NoPerm, []string{"EXPIRED: more than 100 years old"}},
		{"login at the largest int64", now + 1200, math.MaxInt64, 0, []string{"created more than 100 years in the future (clock moved backwards?)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testutil.Tokens(t, t.TempDir(), tt.expiresAt, tt.created)
			st := Check(t.Context(), Options{TokenFile: p, Now: statusNow})
			var out bytes.Buffer
			if err := st.WriteText(&out); err != nil {
				t.Fatal(err)
			}
			if st.ExitCode != tt.code {
				t.Errorf("exit %d, want %d\n%s", st.ExitCode, tt.code, out.String())
			}
			for _, want := range tt.text {
				if !strings.Contains(out.String(), want) {
					t.Errorf("report lacks %q:\n%s", want, out.String())
				}
			}
			if testutil.Garbled.MatchString(out.String()) {
				t.Errorf("report has an overflowed or negative duration:\n%s", out.String())
			}
		})
	}
}
