// Package human formats durations and secrets for the people who read logs and reports.
package human

import (
	"fmt"
	"strings"
	"time"
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
