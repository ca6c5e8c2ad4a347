package store

import (
	"strings"
	"testing"

	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/testutil"
)

func TestParseTokenFileSchwabdev(t *testing.T) {
	_, err := ParseTokenFile(testutil.SchwabdevDB)
	if exit.Code(err) != exit.Data || !strings.Contains(err.Error(), "SQLite database (Schwabdev's token store)") || !strings.Contains(exit.Hint(err), "schwab-py") {
		t.Errorf("ParseTokenFile = %v (exit %d, hint %q)", err, exit.Code(err), exit.Hint(err))
	}
	// Only the whole magic string counts.
	_, err = ParseTokenFile([]byte("SQLite format 2\x00"))
	if err == nil || strings.Contains(err.Error(), "SQLite") {
		t.Errorf("ParseTokenFile(not quite SQLite) = %v", err)
	}
}
