// Package leakcheck fails a test binary whose tests leave goroutines behind.
// go.uber.org/goleak finds them; this wrapper gives them Wait to end and
// keeps the Run method that testscript.Main needs.
package leakcheck

import (
	"fmt"
	"io"
	"os"
	"time"

	"go.uber.org/goleak"
)

// TestingM is implemented by *testing.M.
type TestingM interface{ Run() int }

// Out gets the report of leaked goroutines.
var Out io.Writer = os.Stderr

// Wait is how long goroutines get to end after the last test.
var Wait = 2 * time.Second

// Main runs the tests and then checks that every goroutine they started has
// ended; it returns the exit code for os.Exit. Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m)) }
func Main(m TestingM) int { return Wrap(m).Run() }

// Wrap returns m with the check added to its Run, for harnesses that call
// Run themselves (testscript.Main).
func Wrap(m TestingM) TestingM { return wrapped{m} }

type wrapped struct{ m TestingM }

func (w wrapped) Run() int {
	before := goleak.IgnoreCurrent()
	if code := w.m.Run(); code != 0 {
		return code // the failure is already reported; leaks may follow from it
	}
	// goleak.Find itself retries for about half a second.
	for deadline := time.Now().Add(Wait); ; {
		err := goleak.Find(before)
		if err == nil {
			return 0
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(Out, "leakcheck: goroutines outlived the tests: %v\n", err)
			return 1
		}
	}
}
