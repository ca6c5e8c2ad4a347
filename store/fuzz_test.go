package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/testutil"
	"github.com/refresh-token/refresh-token/oauth"
)

// The fuzz targets start from the corpus of TestCorpus. make fuzz runs each
// for a while; plain go test runs the seeds.

// seeds reads the corpus files of TestCorpus that match globs.
func seeds(f *testing.F, globs ...string) [][]byte {
	return testutil.Seeds(f, filepath.Join("..", "testdata"), globs...)
}

// FuzzTokenFile: whatever parses survives Marshal and a second parse with
// nothing lost (every field we do not know, at either level, unchanged),
// Marshal is stable, and Apply changes only the fields it owns. Whatever
// does not parse is exit 65 with a hint.
func FuzzTokenFile(f *testing.F) {
	for _, s := range seeds(f, "corpus/tokens/*.json", "schwab_tokens.json") {
		f.Add(s)
	}
	now := time.Unix(1762990000, 0)
	f.Fuzz(func(t *testing.T, data []byte) {
		tf, err := ParseTokenFile(data)
		if err != nil {
			if exit.Code(err) != exit.Data || exit.Hint(err) == "" {
				t.Fatalf("error %v: exit %d, hint %q; want 65 with a hint", err, exit.Code(err), exit.Hint(err))
			}
			return
		}
		out := tf.Marshal()
		again, err := ParseTokenFile(out)
		if err != nil {
			t.Fatalf("Marshal output does not parse: %v\n%s", err, out)
		}
		if diff := cmp.Diff(tf.Token, again.Token); diff != "" || tf.CreationTimestamp != again.CreationTimestamp {
			t.Fatalf("known fields changed (-first +second):\n%s\ncreation %d -> %d", diff, tf.CreationTimestamp, again.CreationTimestamp)
		}
		if diff := cmp.Diff(generic(t, data), generic(t, out)); diff != "" {
			t.Fatalf("content changed by Marshal (-input +output):\n%s", diff)
		}
		if out2 := again.Marshal(); !bytes.Equal(out, out2) {
			t.Fatalf("Marshal is not stable:\n%s\n---\n%s", out, out2)
		}

		// Apply a refresh with a new refresh token: only its fields change.
		r := &oauth.Response{AccessToken: "AT-fuzz", RefreshToken: "RT-fuzz-" + again.Token.RefreshToken, IDToken: "ID-fuzz", TokenType: "Bearer", Scope: "api", ExpiresIn: 1800}
		again.Apply(r, now)
		applied := again.Marshal()
		third, err := ParseTokenFile(applied)
		if err != nil {
			t.Fatalf("file after Apply does not parse: %v\n%s", err, applied)
		}
		want := tf.Token
		want.AccessToken, want.RefreshToken, want.IDToken, want.TokenType, want.Scope = r.AccessToken, r.RefreshToken, r.IDToken, r.TokenType, r.Scope
		want.ExpiresIn, want.ExpiresAt = 1800, now.Unix()+1800
		if diff := cmp.Diff(want, third.Token); diff != "" || third.CreationTimestamp != now.Unix() {
			t.Fatalf("after Apply (-want +got):\n%s\ncreation_timestamp %d", diff, third.CreationTimestamp)
		}
		before, after := generic(t, out).(map[string]any), generic(t, applied).(map[string]any)
		for _, m := range []map[string]any{before, after} {
			delete(m, "creation_timestamp")
			if tok, ok := m["token"].(map[string]any); ok {
				for _, k := range []string{"access_token", "refresh_token", "id_token", "token_type", "scope", "expires_in", "expires_at"} {
					delete(tok, k)
				}
			}
		}
		if diff := cmp.Diff(before, after); diff != "" {
			t.Fatalf("Apply changed fields it does not own (-before +after):\n%s", diff)
		}
	})
}

// generic decodes JSON as encoding/json sees it, numbers as written.
func generic(t *testing.T, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %q: %v", data, err)
	}
	return v
}

// FuzzLoadApp: an app config loads with both values set, or fails with exit
// 78 and a hint, on one line that quotes no value from the file.
func FuzzLoadApp(f *testing.F) {
	for _, s := range seeds(f, "corpus/config/*.yaml", "schwab_app_config.yaml") {
		f.Add(s)
	}
	path := filepath.Join(f.TempDir(), "app.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		// A YAML input that makes the parser run away would only stall the
		// fuzzer; crash instead, so that the input is saved.
		watchdog := time.AfterFunc(3*time.Second, func() { panic(fmt.Sprintf("LoadApp still running after 3s on %q", data)) })
		app, err := LoadApp(path, "")
		watchdog.Stop()
		if err == nil {
			if app.Key == "" || app.Secret == "" {
				t.Fatalf("loaded %+v without an error", app)
			}
			return
		}
		if exit.Code(err) != exit.Config || exit.Hint(err) == "" {
			t.Fatalf("error %v: exit %d, hint %q; want 78 with a hint", err, exit.Code(err), exit.Hint(err))
		}
		if msg := err.Error(); strings.ContainsAny(msg, "`\n") {
			t.Fatalf("error quotes a value or spans lines: %q", msg)
		}
	})
}

// FuzzWrittenReadsBack: the encoder never produces bytes the reader
// refuses. A token file with an answer's extra field of any shape applied
// is either refused by writeFile's check (over the size cap or too deep)
// or read back whole by the next run.
func FuzzWrittenReadsBack(f *testing.F) {
	files := seeds(f, "schwab_tokens.json", "corpus/tokens/unknown-fields.json")
	for _, extra := range []string{`1`, `"x"`, `{"a": [1, {"b": null}]}`, strings.Repeat("[", 30) + strings.Repeat("]", 30),
		strings.Repeat("[", 31) + strings.Repeat("]", 31), strings.Repeat(`{"a":`, 31) + "1" + strings.Repeat("}", 31)} {
		for _, file := range files {
			f.Add(file, []byte(extra))
		}
	}
	now := time.Unix(1762990000, 0)
	f.Fuzz(func(t *testing.T, file, extra []byte) {
		tf, err := ParseTokenFile(file)
		if err != nil || !json.Valid(extra) {
			return // the decoder hands Apply only valid JSON values
		}
		tf.Apply(&oauth.Response{AccessToken: "AT-fuzz", ExpiresIn: 1800, Extra: []oauth.Field{{Name: "x_fuzz", Value: extra}}}, now)
		data := tf.encode()
		if err := readable(data); err != nil {
			if !errors.Is(err, ErrTooBig) && !errors.Is(err, ErrTooDeep) {
				t.Fatalf("readable: %v", err)
			}
			return // writeFile refuses it: the old file stays
		}
		back, err := ParseTokenFile(data)
		if err != nil {
			t.Fatalf("written file is refused by the reader: %v\n%s", err, data)
		}
		if diff := cmp.Diff(tf.Token, back.Token); diff != "" {
			t.Fatalf("known fields changed (-written +read):\n%s", diff)
		}
	})
}
