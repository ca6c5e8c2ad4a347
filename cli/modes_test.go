package cli

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/internal/seam"
	"github.com/refresh-token/refresh-token/store"
)

// The token file's mode never widens, and what we create beside it is 0600,
// whatever the umask: the modes are set, not left to the umask. Under umask
// 0, every temp file seen at every step of the durable write has no permission bit
// that the token file lacks.
func TestModesUnderUmask0(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)

	for _, tt := range []struct {
		name string
		mode fs.FileMode // 0: no file yet
		want fs.FileMode
	}{
		{"new file", 0, 0o600},
		{"0600 kept", 0o600, 0o600},
		{"0640 kept", 0o640, 0o640},
		{"0400 kept", 0o400, 0o400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "tokens.json")
			if tt.mode != 0 {
				os.WriteFile(p, []byte("old"), tt.mode)
			}
			steps := 0
			seam.WriteStep = func(step string) {
				temps, _ := filepath.Glob(filepath.Join(dir, "tokens.json"+store.TempMark+"*"))
				for _, tmp := range temps {
					steps++
					st, err := os.Stat(tmp)
					if err != nil {
						t.Errorf("%s: %v", step, err)
						continue
					}
					if extra := st.Mode().Perm() &^ tt.want; extra != 0 {
						t.Errorf("%s: temp file mode %s, wider than %s", step, st.Mode().Perm(), tt.want)
					}
				}
			}
			defer func() { seam.WriteStep = nil }()
			f, err := store.ParseTokenFile([]byte(`{"token": {"refresh_token": "RT"}}`))
			if err != nil {
				t.Fatal(err)
			}
			if err := store.WriteTokenFile(p, f); err != nil {
				t.Fatal(err)
			}
			if steps < 2 {
				t.Errorf("saw the temp file at %d steps, want after-fsync and before-rename", steps)
			}
			if st, _ := os.Stat(p); st.Mode().Perm() != tt.want {
				t.Errorf("token file mode %s, want %s", st.Mode().Perm(), tt.want)
			}
		})
	}

	dir := t.TempDir()
	p := filepath.Join(dir, "tokens.json")
	l, err := store.Lock(context.Background(), p, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	l.Unlock()
	logf, err := openLog(filepath.Join(dir, "logs", "refresh.log"))
	if err != nil {
		t.Fatal(err)
	}
	logf.Close()
	for path, want := range map[string]fs.FileMode{
		p + ".lock":                               0o600,
		filepath.Join(dir, "logs"):                0o700,
		filepath.Join(dir, "logs", "refresh.log"): 0o600,
	} {
		st, err := os.Stat(path)
		if err != nil {
			t.Error(err)
		} else if st.Mode().Perm() != want {
			t.Errorf("%s: mode %s, want %s", path, st.Mode().Perm(), want)
		}
	}
}
