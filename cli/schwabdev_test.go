package cli

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/fixture"
	"github.com/refresh-token/refresh-token/internal/testutil"
)

// deliver and status read the file without the run's check: the parser
// names the database too.
func TestCommandsSchwabdevDatabase(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "tokens.db")
	if err := os.WriteFile(db, testutil.SchwabdevDB, 0o600); err != nil {
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
		if strings.Contains(errb.String(), fixture.RereadLine) {
			t.Errorf("%s: read the database again, as if a writer were mid-write:\n%s", cmd, errb.String())
		}
	}
	if _, err := os.Stat(db + ".lock"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("lock file beside the database: %v", err)
	}
}
