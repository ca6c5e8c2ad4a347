package human

import (
	"testing"
	"time"
)

func TestSecret(t *testing.T) {
	for in, want := range map[string]string{"": "", "abc": "***", "abcd": "****", "abcdef": "abcd..."} {
		if got := Secret(in); got != want {
			t.Errorf("Secret(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDuration(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0 seconds"},
		{time.Second, "1 second"},
		{1499 * time.Millisecond, "1 second"},
		{1500 * time.Millisecond, "2 seconds"},
		{2*time.Minute - time.Second, "119 seconds"},
		{2 * time.Minute, "2 minutes"},
		{2*time.Hour - time.Second, "120 minutes"},
		{2 * time.Hour, "2.0 hours"},
		{48*time.Hour - time.Second, "48.0 hours"},
		{48 * time.Hour, "2.0 days"},
		{100*365*24*time.Hour - time.Second, "36500.0 days"},
		{100 * 365 * 24 * time.Hour, "more than 100 years"},
	} {
		if got := Duration(tt.d); got != tt.want {
			t.Errorf("Duration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"":                        "",
		"/srv/bot/tokens.json":    "/srv/bot/tokens.json",
		`a "quoted" \ path é €`:   `a "quoted" \ path é €`,
		"x\n[2026-12-05] INFO: y": `x\n[2026-12-05] INFO: y`,
		"\x1b[31mred\x1b[0m":      `\x1b[31mred\x1b[0m`,
		"tab\there\r":             `tab\there\r`,
		"del\x7f c1\u0085":        `del\x7f c1\u0085`,
		"line\u2028sep":           `line\u2028sep`,
		"bad\xffbyte":             `bad\xffbyte`,
		"\ufffd kept":             "\ufffd kept",
	} {
		if got := Clean(in); got != want {
			t.Errorf("Clean(%q) = %q, want %q", in, got, want)
		}
	}
}
