package status

import (
	"os"
	"testing"

	"github.com/refresh-token/refresh-token/internal/leakcheck"
)

// Every goroutine a test starts (servers, receivers, timers, HTTP
// connections) must have ended when the tests are done.
func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m)) }
