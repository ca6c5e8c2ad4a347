// Command bot-sim stands in for the trading bot's token receiver and for Schwab's token endpoint; see package harness.
package main

import (
	"os"

	"github.com/refresh-token/refresh-token/harness"
)

// Stamped at build time: -ldflags "-X main.version=v1.2.3 -X main.commit=abc123".
var version, commit string

func main() {
	harness.Version, harness.Commit = version, commit
	os.Exit(harness.Run())
}
