// Package leakcheck fails a test binary whose tests leave goroutines behind.
package leakcheck

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"strings"
	"time"
)

// TestingM is implemented by *testing.M.
type TestingM interface{ Run() int }

// Out gets the report of leaked goroutines.
var Out io.Writer = os.Stderr

// Wait is how long goroutines get to end after the last test.
var Wait = 2 * time.Second

// permanent are goroutines that a package starts once and keeps for the
// life of the process, by design.
var permanent = []string{
	"os/signal.signal_recv", // signal.Notify's loop
	"os/signal.loop",
}

// Main runs the tests and then checks that every goroutine they started has
// ended; it returns the exit code for os.Exit. Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m)) }
func Main(m TestingM) int {
	return Wrap(m).Run()
}

// Wrap returns m with the check added to its Run, for harnesses that call
// Run themselves (testscript.Main).
func Wrap(m TestingM) TestingM { return wrapped{m} }

type wrapped struct{ m TestingM }

func (w wrapped) Run() int {
	before := ids(stacks())
	code := w.m.Run()
	if code != 0 {
		return code // the failure is already reported; leaks may follow from it
	}
	if leaked := Leaked(before, Wait); len(leaked) > 0 {
		report(Out, leaked)
		return 1
	}
	return 0
}

var header = regexp.MustCompile(`^goroutine (\d+) `)

// Leaked waits up to wait for the goroutines not in before (and not
// permanent) to end, and returns the stacks of those still running.
func Leaked(before map[string]bool, wait time.Duration) []string {
	deadline := time.Now().Add(wait)
	for {
		var leaked []string
		for _, g := range stacks() {
			id := header.FindStringSubmatch(g)
			if id == nil || before[id[1]] || isPermanent(g) {
				continue
			}
			leaked = append(leaked, g)
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			return leaked
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Snapshot returns the goroutines running now, for Leaked.
func Snapshot() map[string]bool { return ids(stacks()) }

func isPermanent(g string) bool {
	for _, p := range permanent {
		if strings.Contains(g, p) {
			return true
		}
	}
	return false
}

func ids(gs []string) map[string]bool {
	m := map[string]bool{}
	for _, g := range gs {
		if id := header.FindStringSubmatch(g); id != nil {
			m[id[1]] = true
		}
	}
	return m
}

// stacks returns one stack dump per goroutine, the caller's included.
func stacks() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var gs []string
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if s := strings.TrimSpace(string(g)); s != "" {
			gs = append(gs, s)
		}
	}
	return gs
}

func report(w io.Writer, leaked []string) {
	fmt.Fprintf(w, "leakcheck: %d goroutine(s) outlived the tests:\n\n%s\n", len(leaked), strings.Join(leaked, "\n\n"))
}
