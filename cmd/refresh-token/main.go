// Command refresh-token refreshes the Schwab OAuth token and pushes it to the
// trading bot. See refresh-token --help.
package main

import (
	"os"

	"github.com/refresh-token/refresh-token/cli"
)

// Set by the linker: -X main.version=... -X main.commit=...
var version, commit string

func main() {
	os.Exit(cli.Main(cli.Build{Version: version, Commit: commit}, os.Args[1:], os.Stdout, os.Stderr))
}
