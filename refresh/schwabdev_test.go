package refresh

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refresh-token/refresh-token/harness"
	"github.com/refresh-token/refresh-token/internal/exit"
)

// The first bytes of a Schwabdev tokens.db.
var schwabdevDB = append([]byte("SQLite format 3\x00\x10\x00\x01\x01\x00\x40\x20\x20"), make([]byte, 100)...)

// A run pointed at Schwabdev's SQLite database says what it is and what to
// do, exits 65 before taking the lock (no lock file beside the database)
// and before any request, and leaves the database alone.
func TestRunSchwabdevDatabase(t *testing.T) {
	r := newRig(t, harness.SchwabConfig{})
	if err := os.WriteFile(r.tokens, schwabdevDB, 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	_, err := Run(context.Background(), r.options(&logs))
	if exit.Code(err) != exit.Data {
		t.Fatalf("exit %d (%v), want 65", exit.Code(err), err)
	}
	if want := r.tokens + ": token file: a SQLite database (Schwabdev's token store), not a schwab-py JSON token file"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if hint := exit.Hint(err); !strings.Contains(hint, "Schwabdev keeps and refreshes its own tokens") || !strings.Contains(hint, "point --token-file at a schwab-py JSON token file") {
		t.Errorf("hint %q does not say what to do", hint)
	}
	if _, err := os.Stat(r.tokens + ".lock"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("lock file beside the database: %v", err)
	}
	if n := r.schwab.Requests(); n != 0 {
		t.Errorf("%d requests, want none", n)
	}
	if got := mustRead(t, r.tokens); !bytes.Equal(got, schwabdevDB) {
		t.Error("the database changed")
	}
}

// deliver and status read the file without the run's check: the parser
// names the database too.
func TestCommandsSchwabdevDatabase(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "tokens.db")
	if err := os.WriteFile(db, schwabdevDB, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"deliver", "status"} {
		var out, errb bytes.Buffer
		args := []string{"--token-file", db, "--log-level", "debug", cmd, "--socket", filepath.Join(dir, "none.sock")}
		if cmd == "deliver" {
			args = append(args, "--log-file=")
		}
		code := Main(Build{}, args, &out, &errb)
		if code != exit.Data {
			t.Errorf("%s: exit %d, want 65\n%s%s", cmd, code, out.String(), errb.String())
		}
		if !strings.Contains(out.String()+errb.String(), "Schwabdev") {
			t.Errorf("%s: no word of Schwabdev:\n%s%s", cmd, out.String(), errb.String())
		}
		if strings.Contains(errb.String(), rereadLine) {
			t.Errorf("%s: read the database again, as if a writer were mid-write:\n%s", cmd, errb.String())
		}
	}
	if _, err := os.Stat(db + ".lock"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("lock file beside the database: %v", err)
	}
}

func TestParseTokenFileSchwabdev(t *testing.T) {
	_, err := ParseTokenFile(schwabdevDB)
	if exit.Code(err) != exit.Data || !strings.Contains(err.Error(), "SQLite database (Schwabdev's token store)") || !strings.Contains(exit.Hint(err), "schwab-py") {
		t.Errorf("ParseTokenFile = %v (exit %d, hint %q)", err, exit.Code(err), exit.Hint(err))
	}
	// Only the whole magic string counts.
	_, err = ParseTokenFile([]byte("SQLite format 2\x00"))
	if err == nil || strings.Contains(err.Error(), "SQLite") {
		t.Errorf("ParseTokenFile(not quite SQLite) = %v", err)
	}
}
