// Command refresh-token refreshes the Schwab OAuth token and pushes it to the
// trading bot. See refresh-token --help.
package main

import (
	"os"

	"github.com/refresh-token/refresh-token/cli"
)

// Set by the linker: -X main.version=... -X main.commit=... -X main.docdir=...
var version, commit, docdir string

func main() {
	os.Exit(cli.Main(cli.Build{Version: version, Commit: commit, DocDir: docdir}, os.Args[1:], os.Stdout, os.Stderr))
}
