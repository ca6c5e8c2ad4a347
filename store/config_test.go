package store

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/refresh-token/refresh-token/internal/exit"
)

func TestLoadApp(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string // "" for no file
		creds map[string]string
		want  App
		code  int
	}{
		{name: "seed", yaml: "app_name: x\napp_key: K\napp_secret: S\ncallback_url: https://127.0.0.1\n", want: App{Key: "K", Secret: "S"}},
		{name: "unknown keys ignored", yaml: "app_key: K\napp_secret: S\nother: {a: 1}\n", want: App{Key: "K", Secret: "S"}},
		{name: "missing file", code: exit.NoInput},
		{name: "missing secret", yaml: "app_key: K\n", code: exit.Config},
		{name: "empty key", yaml: "app_key: ''\napp_secret: S\n", code: exit.Config},
		{name: "not yaml", yaml: "app_key: [\n", code: exit.Config},
		{name: "not a mapping", yaml: "- a\n- b\n", code: exit.Config},
		{name: "credential overrides yaml", yaml: "app_key: K\napp_secret: S\n", creds: map[string]string{"app_secret": "CS\n"}, want: App{Key: "K", Secret: "CS"}},
		{name: "credentials alone", creds: map[string]string{"app_key": "CK", "app_secret": "CS"}, want: App{Key: "CK", Secret: "CS"}},
		{name: "one credential, no file", creds: map[string]string{"app_key": "CK"}, code: exit.NoInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "app.yaml")
			if tt.yaml != "" {
				os.WriteFile(path, []byte(tt.yaml), 0o600)
			}
			credDir := ""
			if tt.creds != nil {
				credDir = filepath.Join(dir, "creds")
				os.Mkdir(credDir, 0o700)
				for k, v := range tt.creds {
					os.WriteFile(filepath.Join(credDir, k), []byte(v), 0o600)
				}
			}
			got, err := LoadApp(path, credDir)
			if c := exit.Code(err); c != tt.code {
				t.Fatalf("exit = %d, want %d (%v)", c, tt.code, err)
			}
			if err != nil {
				if exit.Hint(err) == "" {
					t.Error("no hint")
				}
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("app (-want +got):\n%s", diff)
			}
		})
	}
}

// A YAML error names the line and the problem, never the value: pointing
// --app-config at a file that holds only the secret (the credential file,
// say) must not print the secret, or part of it, to the journal. The error
// is one log line.
func TestLoadAppErrorHidesValues(t *testing.T) {
	for _, content := range []string{
		"Zq8secret\n",                    // yaml quotes a short value whole
		"Zq8secretvalue0123456789\n",     // and a long one's first 7 characters
		"app_key: K\napp_secret: S\n-\n", // a syntax error
		"- Zq8secret\n",
		"app_key: !!int Zq8secret\napp_secret: S\n",
		"Zq8`\n",              // a backtick in the value (found by FuzzLoadApp)
		"\"Zq8\\nse`cret\"\n", // a newline and a backtick in the value
		// yaml.v3 quotes anchors, aliases, tags and keys in single or
		// double quotes, or bare.
		"app_key: K\napp_secret: *Zq8secret9876\n",
		"app_key: K\napp_secret: &Zq8a [*Zq8a]\n",
		"app_key: K\napp_secret: !Zq8tag [x]\n",
		"app_key: K\napp_secret: !Zq8tag {a: b}\n",
		"app_key: K\nZq8secret: a\nZq8secret: b\napp_secret: S\n",
		"app_key: K\napp_secret: {Zq8secret: [a]}\n",
		"app_key: K\napp_secret: [Zq8secret]\napp_key: [Zq8other]\n",
	} {
		path := filepath.Join(t.TempDir(), "app.yaml")
		os.WriteFile(path, []byte(content), 0o600)
		_, err := LoadApp(path, "")
		if exit.Code(err) != exit.Config {
			t.Errorf("%q: exit %d, want 78 (%v)", content, exit.Code(err), err)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "Zq8") || strings.ContainsAny(msg, "`\n") {
			t.Errorf("%q: error %q shows a value or spans lines", content, msg)
		}
	}
}

// cutQuoted removes a quoted span wherever it stands, at the very start of
// a line too, and everything after a lone quote.
func TestCutQuoted(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"'SeCrEt' is not valid", " is not valid"},
		{"key 'a'b' here", "key  here"},
		{"lone 'SeCrEt", "lone "},
		{"'", ""},
		{"nothing quoted", "nothing quoted"},
	} {
		if got := cutQuoted(tt.in, '\''); got != tt.want {
			t.Errorf("cutQuoted(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// callback_url must be a string: a number or a list is named as such, and
// a missing one is empty (the check of the URL then says it is missing).
func TestLoadCallbackURL(t *testing.T) {
	for _, tt := range []struct{ yaml, want, err string }{
		{"callback_url: https://127.0.0.1:8182\n", "https://127.0.0.1:8182", ""},
		{"callback_url: ' https://127.0.0.1:8182 '\n", "https://127.0.0.1:8182", ""},
		{"app_key: k\n", "", ""},
		{"callback_url: 8182\n", "", "callback_url is not a string"},
		{"callback_url: [a]\n", "", "callback_url is not a string"},
	} {
		path := filepath.Join(t.TempDir(), "app.yaml")
		if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := LoadCallbackURL(path)
		if got != tt.want || (tt.err == "") != (err == nil) || err != nil && (!strings.Contains(err.Error(), tt.err) || exit.Code(err) != exit.Config) {
			t.Errorf("%q: %q, %v; want %q, %q (78)", tt.yaml, got, err, tt.want, tt.err)
		}
	}
}

// A YAML error names no Go type: the reader knows the file, not our code.
func TestLoadAppErrorNamesNoGoType(t *testing.T) {
	p := filepath.Join(t.TempDir(), "app.yaml")
	os.WriteFile(p, []byte("- app_key\n- app_secret\n"), 0o600)
	_, err := LoadApp(p, "")
	if got := fmt.Sprint(err); !strings.Contains(got, "cannot unmarshal !!seq into a mapping") || strings.Contains(got, "appFile") {
		t.Errorf("error %q, want the YAML problem without Go's type name", got)
	}
}
