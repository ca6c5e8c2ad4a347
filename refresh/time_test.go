package refresh

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/harness"
	"github.com/refresh-token/refresh-token/internal/exit"
)

// timeNow is the clock of the time tests.
var timeNow = time.Unix(1_800_000_000, 0)

// garbled matches what an overflowed duration prints as.
var garbled = regexp.MustCompile(`-\d+ seconds|-\d+\.\d+ (days|hours)`)

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
			tok := Token{ExpiresAt: tt.expiresAt, ExpiresIn: 1800, RefreshToken: "RT"}
			got := skip(tok, timeNow, Options{Log: log, IfExpiresWithin: tt.within})
			if got != tt.skip {
				t.Errorf("skip = %q, want %q", got, tt.skip)
			}
			if tt.warn == "" && logs.Len() > 0 || !strings.Contains(logs.String(), tt.warn) {
				t.Errorf("log = %q, want %q", logs.String(), tt.warn)
			}
			if garbled.MatchString(logs.String()) {
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
		tok := Token{ExpiresAt: now - 120 + tt.expiresIn, ExpiresIn: tt.expiresIn, RefreshToken: "RT"}
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
				"Refresh token is 40.0 days old: Schwab expires it after about 7 days; run 'refresh-token login' soon",
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
			r := newRig(t, harness.SchwabConfig{Modes: tt.modes})
			old := r.tokenFileAt(t, tt.expiresAt, tt.created)
			var logs bytes.Buffer
			o := r.options(&logs)
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
			if garbled.MatchString(logs.String()) {
				t.Errorf("log has an overflowed duration:\n%s", logs.String())
			}
			got := mustRead(t, r.tokens)
			if tt.code != 0 {
				if !bytes.Equal(got, old) {
					t.Errorf("file changed by a failed run:\n%s", got)
				}
				return
			}
			f, err := ParseTokenFile(got)
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
func (r *rig) tokenFileAt(t *testing.T, expiresAt, created int64) []byte {
	t.Helper()
	f, err := ParseTokenFile(r.writeTokens(t, timeNow))
	if err != nil {
		t.Fatal(err)
	}
	f.tok.setValue("expires_at", expiresAt)
	f.top.setValue("creation_timestamp", created)
	data := f.Marshal()
	if err := WriteFile(r.tokens, data); err != nil {
		t.Fatal(err)
	}
	return data
}

// The status report says sensible things about times far off: no
// overflowed durations, a refresh token from the future named as such.
func TestStatusFarTimes(t *testing.T) {
	now := timeNow.Unix()
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
			p := tokens(t, t.TempDir(), tt.expiresAt, tt.created)
			st := CheckStatus(t.Context(), StatusOptions{TokenFile: p, Now: timeNow})
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
			if garbled.MatchString(out.String()) {
				t.Errorf("report has an overflowed or negative duration:\n%s", out.String())
			}
		})
	}
}

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
		p := tokens(t, dir, tt.expiresAt, now-3600)
		var out, errb bytes.Buffer
		code := Main(Build{}, []string{"deliver", "--log-file=", "--token-file", p, "--socket", dir + "/no.sock"}, &out, &errb)
		if code != exit.TempFail || !strings.Contains(errb.String(), tt.ago) || garbled.MatchString(errb.String()) {
			t.Errorf("expires_at %d: exit %d, want 75 and %q\n%s", tt.expiresAt, code, tt.ago, errb.String())
		}
	}
}
