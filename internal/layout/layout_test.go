package layout

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/refresh-token/refresh-token/"

// forbidden lists, for each room, the rooms it must not reach, directly or
// through another: imports run cmd -> cli -> {login, status, refresh} ->
// {deliver, store} -> internal, store may use oauth's types, and harness
// stands apart from the product.
var forbidden = map[string][]string{
	"oauth":          {"cli", "login", "status", "refresh", "store", "deliver", "harness"},
	"deliver":        {"cli", "login", "status", "refresh", "store", "oauth", "harness"},
	"store":          {"cli", "login", "status", "refresh", "deliver", "harness"},
	"refresh":        {"cli", "login", "status", "harness"},
	"login":          {"cli", "status", "harness"},
	"status":         {"cli", "login", "refresh", "harness"},
	"cli":            {"harness"},
	"harness":        {"cli", "login", "status", "refresh", "store"},
	"internal/exit":  {"cli", "login", "status", "refresh", "store", "oauth", "deliver", "harness"},
	"internal/human": {"cli", "login", "status", "refresh", "store", "oauth", "deliver", "harness"},
	"internal/seam":  {"cli", "login", "status", "refresh", "store", "oauth", "deliver", "harness"},
}

type pkg struct {
	ImportPath string
	Deps       []string
}

// TestImportsRunOneWay fails when a room reaches a room it must not, with
// the chain of imports `go list -deps` sees (test files aside).
func TestImportsRunOneWay(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command("go", "list", "-json", module+"...").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := map[string]bool{}
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		room := strings.TrimPrefix(p.ImportPath, module)
		seen[room] = true
		for _, bad := range forbidden[room] {
			if slices.Contains(p.Deps, module+bad) {
				t.Errorf("%s reaches %s, against the layout", room, bad)
			}
		}
	}
	for room := range forbidden {
		if !seen[room] {
			t.Errorf("room %s not found: update the layout test", room)
		}
	}
}
