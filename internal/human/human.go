// Package human formats durations and secrets for the people who read logs and reports.
package human

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Duration prints a duration the way a person would say it. Durations
// from absurd timestamps, which time.Duration cannot hold, print as "more
// than 100 years".
func Duration(d time.Duration) string {
	switch {
	case d >= 100*365*24*time.Hour:
		return "more than 100 years"
	case d >= 48*time.Hour:
		return fmt.Sprintf("%.1f days", d.Hours()/24)
	case d >= 2*time.Hour:
		return fmt.Sprintf("%.1f hours", d.Hours())
	case d >= 2*time.Minute:
		return fmt.Sprintf("%d minutes", int(d.Round(time.Minute).Minutes()))
	}
	if s := int(d.Round(time.Second).Seconds()); s != 1 {
		return fmt.Sprintf("%d seconds", s)
	}
	return "1 second"
}

// Secret shows at most the first 4 characters of a secret, for debug lines.
func Secret(s string) string {
	if len(s) <= 4 {
		return strings.Repeat("*", len(s))
	}
	return s[:4] + "..."
}

// Clean returns s fit for one line of a log or a report: control
// characters (a newline would forge a log line, an escape sequence would
// reach the terminal), invalid UTF-8 and the Unicode line separators are
// written as Go escapes (\n, \x1b, \u2028); everything else is kept as it
// is, so that a clean string comes back unchanged.
func Clean(s string) string {
	i := strings.IndexFunc(s, unclean)
	if i < 0 && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[0])
		case unclean(r):
			q := strconv.QuoteRune(r) // '\n', '\x1b', '\u2028'
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[:n])
		}
		s = s[n:]
	}
	return b.String()
}

func unclean(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}
