package status

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/testutil"
)

// status warns about a token directory that others may write to.
func TestStatusWarnsWritableDirectory(t *testing.T) {
	dir := t.TempDir()
	p := testutil.Tokens(t, dir, time.Now().Unix()+1200, time.Now().Unix()-3600)
	st := Check(context.Background(), Options{TokenFile: p})
	for _, w := range st.Warnings {
		if strings.Contains(w, "writable") {
			t.Errorf("warning for a private directory: %s", w)
		}
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	st = Check(context.Background(), Options{TokenFile: p})
	found := false
	for _, w := range st.Warnings {
		found = found || strings.Contains(w, "token file directory "+dir+" is writable by group or others")
	}
	if !found || st.ExitCode != exit.OK {
		t.Errorf("exit %d, warnings %q: want a warning about %s and exit 0", st.ExitCode, st.Warnings, dir)
	}
	// status follows run: it does not trust a symlinked lock either.
	os.Symlink(filepath.Join(dir, "elsewhere"), p+".lock")
	if ls := lockStatus(p); ls.State != LockUnknown {
		t.Errorf("symlinked lock: state %s, want unknown", ls.State)
	}
}
