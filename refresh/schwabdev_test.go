package refresh

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/refresh-token/refresh-token/harness"
	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/fixture"
	"github.com/refresh-token/refresh-token/internal/testutil"
)

// A run pointed at Schwabdev's SQLite database says what it is and what to
// do, exits 65 before taking the lock (no lock file beside the database)
// and before any request, and leaves the database alone.
func TestRunSchwabdevDatabase(t *testing.T) {
	r := fixture.NewRig(t, harness.SchwabConfig{})
	if err := os.WriteFile(r.Tokens, testutil.SchwabdevDB, 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	_, err := Run(context.Background(), options(r, &logs))
	if exit.Code(err) != exit.Data {
		t.Fatalf("exit %d (%v), want 65", exit.Code(err), err)
	}
	if want := r.Tokens + ": token file: a SQLite database (Schwabdev's token store), not a schwab-py JSON token file"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if hint := exit.Hint(err); !strings.Contains(hint, "Schwabdev keeps and refreshes its own tokens") || !strings.Contains(hint, "point --token-file at a schwab-py JSON token file") {
		t.Errorf("hint %q does not say what to do", hint)
	}
	if _, err := os.Stat(r.Tokens + ".lock"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("lock file beside the database: %v", err)
	}
	if n := r.Schwab.Requests(); n != 0 {
		t.Errorf("%d requests, want none", n)
	}
	if got := testutil.Read(t, r.Tokens); !bytes.Equal(got, testutil.SchwabdevDB) {
		t.Error("the database changed")
	}
}
