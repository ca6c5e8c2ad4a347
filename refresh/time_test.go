package refresh

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/harness"
	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/fixture"
	"github.com/refresh-token/refresh-token/internal/testutil"
	"github.com/refresh-token/refresh-token/store"
)

// timeNow is the clock of the time tests.
var timeNow = time.Unix(1_800_000_000, 0)

// The guards decide sensibly for times far off or in the future: a token
// that expired long ago, an expires_at in the far future, a token issued in
// the future (the clock moved backwards) are all refreshed, with a warning
// where the file and the clock disagree; a few seconds of skew is not a
// disagreement.
func TestSkipFarTimes(t *testing.T) {
	now := timeNow.Unix()
	const day = 24 * 3600
	tests := []struct {
		name      string
		expiresAt int64
		within    time.Duration
		skip      string // "": refresh
		warn      string // "": no warning
	}{
		{"expired a month ago", now - 30*day, 0, "", ""},
		{"expired a month ago, --if-expires-within", now - 30*day, 10 * time.Minute, "", ""},
		{"expired at the epoch", 1, 0, "", ""},
		{"expired before the epoch", -1, 0, "", ""},
		{"no expires_at", 0, 10 * time.Minute, "", ""},
		{"issued 30 s in the future: clock skew", now + 30 + 1800, 0, "access token was issued 0 seconds ago, by another run", ""},
		{"issued 2 h in the future: clock moved backwards", now + 2*3600 + 1800, 0, "",
			"Access token claims to be issued 2.0 hours from now (clock moved backwards?); refreshing"},
		{"clock moved backwards, --if-expires-within", now + 2*3600 + 1800, 10 * time.Minute, "",
			"Access token claims to be issued 2.0 hours from now (clock moved backwards?); refreshing"},
		{"expires in 2126", now + 100*365*day, 10 * time.Minute, "",
			"Access token claims to be issued 36500.0 days from now (clock moved backwards?); refreshing"},
		{"expires in the year 3000", 32503680000, 10 * time.Minute, "",
			"Access token claims to be issued more than 100 years from now (clock moved backwards?); refreshing"},
		{"expires in the year 9999", 253402300799, 0, "",
			"Access token claims to be issued more than 100 years from now (clock moved backwards?); refreshing"},
		{"expires_at the largest int64", math.MaxInt64, 10 * time.Minute, "",
			"Access token claims to be issued more than 100 years from now (clock moved backwards?); refreshing"},
		{"expires_at the smallest int64", math.MinInt64, 10 * time.Minute, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			tok := store.Token{ExpiresAt: tt.expiresAt, ExpiresIn: 1800, RefreshToken: "RT"}
			got := skip(tok, timeNow, Options{Log: log, IfExpiresWithin: tt.within})
			if got != tt.skip {
				t.Errorf("skip = %q, want %q", got, tt.skip)
			}
			if tt.warn == "" && logs.Len() > 0 || !strings.Contains(logs.String(), tt.warn) {
				t.Errorf("log = %q, want %q", logs.String(), tt.warn)
			}
			if testutil.Garbled.MatchString(logs.String()) {
				t.Errorf("log has an overflowed duration: %q", logs.String())
			}
		})
	}
}

// A file that claims an access token lives for a year, issued minutes ago,
// must not make --if-expires-within skip every refresh from now on; an
// ordinary token that lives longer than the window is skipped.
func TestSkipLongLifetime(t *testing.T) {
	now := timeNow.Unix()
	tests := []struct {
		name      string
		expiresIn int64
		skip      string
		warn      string
	}{
		{"a year", 365 * 24 * 3600, "", "Access token claims to live 365.0 days more, longer than any Schwab token; refreshing"},
		{"Schwab's 30 minutes", 1800, "access token expires in 28 minutes, later than --if-expires-within 10m0s", ""},
	}
	for _, tt := range tests {
		var logs bytes.Buffer
		log := slog.New(slog.NewTextHandler(&logs, nil))
		tok := store.Token{ExpiresAt: now - 120 + tt.expiresIn, ExpiresIn: tt.expiresIn, RefreshToken: "RT"}
		if got := skip(tok, timeNow, Options{Log: log, IfExpiresWithin: 10 * time.Minute}); got != tt.skip {
			t.Errorf("%s: skip = %q, want %q", tt.name, got, tt.skip)
		}
		if !strings.Contains(logs.String(), tt.warn) || tt.warn == "" && logs.Len() > 0 {
			t.Errorf("%s: log = %q, want %q", tt.name, logs.String(), tt.warn)
		}
	}
}

// Whole runs, in process, against the fake endpoint, with the clock
// injected: what is written follows the run's clock, the 7-day clock is
// kept, and the messages say what happened.
func TestRunFarTimes(t *testing.T) {
	now := timeNow.Unix()
	const day = 24 * 3600
	tests := []struct {
		name      string
		expiresAt int64
		created   int64
		modes     []harness.Mode
		within    time.Duration
		code      int
		logs      []string
	}{
		{"expired a month ago, 40-day-old login, Schwab refuses", now - 30*day, now - 40*day,
			[]harness.Mode{harness.ModeInvalidGrant}, 0, exit.NoPerm, []string{
				"Refresh token is 40.0 days old, past Schwab's 7-day limit: the next refresh will most likely be refused; run 'refresh-token login'",
				"Schwab rejected the refresh (HTTP 400, invalid_grant)",
			}},
		{"expired a month ago, Schwab accepts", now - 30*day, now - 2*day, nil, 10 * time.Minute, 0, []string{
			"Token refreshed successfully (expires in 30 minutes)",
		}},
		{"clock moved backwards 3 hours", now + 3*3600 + 1800, now - day, nil, 0, 0, []string{
			"Access token claims to be issued 3.0 hours from now (clock moved backwards?); refreshing",
			"Token refreshed successfully",
		}},
		{"clock moved backwards past the login", now + 3*3600 + 1800, now + 2*3600, nil, 0, 0, []string{
			"Token file's creation_timestamp is 2.0 hours in the future (clock moved backwards?): the 7-day login deadline cannot be told",
			"Token refreshed successfully",
		}},
		{"expires in the year 9999", 253402300799, now - day, nil, 10 * time.Minute, 0, []string{
			"Access token claims to be issued more than 100 years from now (clock moved backwards?); refreshing",
			"Token refreshed successfully",
		}},
		{"created at the epoch", now - 3600, 1, nil, 0, 0, []string{
			"Refresh token is 20833.3 days old",
			"Token refreshed successfully",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fixture.NewRig(t, harness.SchwabConfig{Modes: tt.modes})
			old := tokenFileAt(t, r, tt.expiresAt, tt.created)
			var logs bytes.Buffer
			o := options(r, &logs)
			o.Now = func() time.Time { return timeNow }
			o.IfExpiresWithin = tt.within
			res, err := Run(context.Background(), o)
			if err != nil {
				logs.WriteString(err.Error()) // Main logs it
			}
			if exit.Code(err) != tt.code {
				t.Fatalf("exit %d (%v), want %d\n%s", exit.Code(err), err, tt.code, logs.String())
			}
			for _, want := range tt.logs {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("log lacks %q:\n%s", want, logs.String())
				}
			}
			if testutil.Garbled.MatchString(logs.String()) {
				t.Errorf("log has an overflowed duration:\n%s", logs.String())
			}
			got := testutil.Read(t, r.Tokens)
			if tt.code != 0 {
				if !bytes.Equal(got, old) {
					t.Errorf("file changed by a failed run:\n%s", got)
				}
				return
			}
			f, err := store.ParseTokenFile(got)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Refreshed || f.Token.ExpiresAt != now+1800 || f.CreationTimestamp != tt.created {
				t.Errorf("refreshed %v, expires_at %d, creation_timestamp %d; want true, %d (the run's clock), %d (kept)",
					res.Refreshed, f.Token.ExpiresAt, f.CreationTimestamp, now+1800, tt.created)
			}
		})
	}
}

// tokenFileAt writes the rig's token file with expires_at and
// creation_timestamp as given, and returns it.
func tokenFileAt(t *testing.T, r *fixture.Rig, expiresAt, created int64) []byte {
	t.Helper()
	data := r.WriteTokens(t, timeNow)
	data = regexp.MustCompile(`"expires_at": -?\d+`).ReplaceAll(data, fmt.Appendf(nil, `"expires_at": %d`, expiresAt))
	data = regexp.MustCompile(`"creation_timestamp": -?\d+`).ReplaceAll(data, fmt.Appendf(nil, `"creation_timestamp": %d`, created))
	if err := os.WriteFile(r.Tokens, data, 0o640); err != nil {
		t.Fatal(err)
	}
	return data
}
