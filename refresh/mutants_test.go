package refresh

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/store"
)

// Tests that kill the mutants gremlins found alive (docs/RELIABILITY.md,
// "Mutation testing"): each pins a promise no other test checked.

// The guards at their exact boundaries: issued 60 s ago is refreshed, 59 s
// is skipped; a lifetime of exactly a day is believed, a second more is
// not; --if-expires-within refreshes a token expiring exactly then and
// skips one a second later; an issue time up to 60 s ahead is clock skew.
func TestSkipBoundaries(t *testing.T) {
	now := timeNow
	at := func(issuedAgo, lifetime time.Duration) store.Token {
		return store.Token{ExpiresAt: now.Add(-issuedAgo + lifetime).Unix(), ExpiresIn: int64(lifetime / time.Second), RefreshToken: "RT"}
	}
	const day = 24 * time.Hour
	tests := []struct {
		name   string
		tok    store.Token
		within time.Duration
		force  bool
		skip   string
		warn   string
	}{
		{name: "issued 59 s ago", tok: at(59*time.Second, 30*time.Minute), skip: "access token was issued 59 seconds ago, by another run"},
		{name: "issued 60 s ago", tok: at(60*time.Second, 30*time.Minute)},
		{name: "issued 59 s ago, --force", tok: at(59*time.Second, 30*time.Minute), force: true},
		{name: "issued 60 s ahead: skew", tok: at(-60*time.Second, 30*time.Minute), skip: "access token was issued 0 seconds ago, by another run"},
		{name: "issued 61 s ahead: clock moved", tok: at(-61*time.Second, 30*time.Minute),
			warn: "Access token claims to be issued 61 seconds from now (clock moved backwards?); refreshing"},
		{name: "lives exactly a day more", tok: at(time.Minute, day+time.Minute), within: 10 * time.Minute,
			skip: "access token expires in 24.0 hours, later than --if-expires-within 10m0s"},
		{name: "lives a day and a second more", tok: at(time.Minute, day+time.Minute+time.Second), within: 10 * time.Minute,
			warn: "Access token claims to live 24.0 hours more, longer than any Schwab token; refreshing"},
		{name: "expires exactly at --if-expires-within", tok: at(20*time.Minute, 30*time.Minute), within: 10 * time.Minute},
		{name: "expires a second after --if-expires-within", tok: at(20*time.Minute-time.Second, 30*time.Minute), within: 10 * time.Minute,
			skip: "access token expires in 10 minutes, later than --if-expires-within 10m0s"},
		{name: "--if-expires-within 0 refreshes", tok: at(2*time.Minute, 30*time.Minute)},
		{name: "expires a second after --if-expires-within, --force", tok: at(20*time.Minute-time.Second, 30*time.Minute), within: 10 * time.Minute, force: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			o := Options{Log: slog.New(slog.NewTextHandler(&logs, nil)), IfExpiresWithin: tt.within, Force: tt.force}
			if got := skip(tt.tok, now, o); got != tt.skip {
				t.Errorf("skip = %q, want %q", got, tt.skip)
			}
			if tt.warn == "" && logs.Len() > 0 || !strings.Contains(logs.String(), tt.warn) {
				t.Errorf("log = %q, want %q", logs.String(), tt.warn)
			}
		})
	}
}

// The 7-day warning from exactly 6.5 days; a creation_timestamp up to 60 s
// ahead is clock skew, not "in the future".
func TestLoginAgeBoundaries(t *testing.T) {
	now := timeNow
	tests := []struct {
		name    string
		created int64
		warn    string
	}{
		{"6.5 days less a second", now.Add(-store.LoginWarnAge + time.Second).Unix(), ""},
		{"exactly 6.5 days", now.Add(-store.LoginWarnAge).Unix(), "WARN msg=\"Refresh token is 6.5 days old: Schwab expires it after about 7 days; run 'refresh-token login' soon\""},
		{"7 days less a second", now.Add(-store.RefreshLifetime + time.Second).Unix(), "Refresh token is 7.0 days old: Schwab expires it after about 7 days; run 'refresh-token login' soon"},
		{"exactly 7 days", now.Add(-store.RefreshLifetime).Unix(), "WARN msg=\"Refresh token is 7.0 days old, past Schwab's 7-day limit: the next refresh will most likely be refused; run 'refresh-token login'\""},
		{"40 days", now.Add(-40 * 24 * time.Hour).Unix(), "Refresh token is 40.0 days old, past Schwab's 7-day limit"},
		{"just now", now.Unix(), ""},
		{"30 s ago", now.Add(-30 * time.Second).Unix(), ""},
		{"30 s ahead", now.Add(30 * time.Second).Unix(), ""},
		{"60 s ahead", now.Add(60 * time.Second).Unix(), ""},
		{"61 s ahead", now.Add(61 * time.Second).Unix(), "creation_timestamp is 61 seconds in the future (clock moved backwards?)"},
		{"none", 0, "Token file has no creation_timestamp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			warnLoginAge(&store.TokenFile{CreationTimestamp: tt.created}, now, slog.New(slog.NewTextHandler(&logs, nil)))
			if tt.warn == "" && logs.Len() > 0 || !strings.Contains(logs.String(), tt.warn) {
				t.Errorf("log = %q, want %q", logs.String(), tt.warn)
			}
		})
	}
}

// The metrics file's temp file is made beside it, never in the working
// directory or $TMPDIR: both are made unusable here, and the write must
// still succeed, for a path with a directory and for a bare name.
func TestMetricsTempBesideTheFile(t *testing.T) {
	dir := t.TempDir()
	gone := t.TempDir()
	t.Setenv("TMPDIR", filepath.Join(gone, "nowhere"))
	t.Chdir(gone)
	if err := os.Remove(gone); err != nil { // the working directory no longer exists
		t.Fatal(err)
	}
	m := MetricsRun{TokenFile: filepath.Join(dir, "tokens.json"), End: timeNow}
	if err := WriteMetrics(filepath.Join(dir, "a.prom"), m); err != nil {
		t.Errorf("metrics file in a directory: %v", err)
	}
	t.Chdir(dir)
	if err := WriteMetrics("b.prom", m); err != nil {
		t.Errorf("metrics file in the working directory: %v", err)
	}
	for _, name := range []string{"a.prom", "b.prom"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
}
