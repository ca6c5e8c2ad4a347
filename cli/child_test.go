package cli

import (
	"os"

	"github.com/refresh-token/refresh-token/internal/fixture"
)

// The process tests (crash, concurrency, login) run this test binary as
// refresh-token.
func init() {
	fixture.ServeChild(func() int { return Main(Build{Version: "test"}, os.Args[1:], os.Stdout, os.Stderr) })
}
