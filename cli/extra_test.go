package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/harness"
	"github.com/refresh-token/refresh-token/internal/human"
	"github.com/refresh-token/refresh-token/internal/testutil"
	"github.com/refresh-token/refresh-token/store"
)

// Every field of Schwab's answer reaches the token file, as schwab-py and
// the original sender keep the whole response: refresh_token_expires_in
// and anything else survive a refresh, and the file still delivers.
func TestExtraResponseFieldsKeptThroughRefresh(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"expires_in":1800,"token_type":"Bearer","scope":"api","refresh_token":"RT-extra-0123456789",`+
			`"access_token":"AT-extra-0123456789","id_token":"ID-extra","refresh_token_expires_in":604800,`+
			`"x_nested":{"a":[1,2.5,"s"]}}`)
	}))
	defer srv.Close()

	dir := testutil.ShortTempDir(t)
	tokens := filepath.Join(dir, "tokens.json")
	app := filepath.Join(dir, "app.yaml")
	sock := filepath.Join(dir, "bot.sock")
	os.WriteFile(app, []byte("app_key: K\napp_secret: S\n"), 0o600)
	old := fmt.Sprintf(`{"creation_timestamp": %d, "token": {"refresh_token": "RT-extra-0123456789", "access_token": "AT-old", "expires_in": 1800, "expires_at": %d, "x_mine": true}}`,
		time.Now().Add(-time.Hour).Unix(), time.Now().Add(-time.Minute).Unix())
	if err := os.WriteFile(tokens, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	rcv := &harness.Receiver{Path: sock}
	if err := rcv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rcv.Serve(ctx) }()
	defer func() { cancel(); <-done }()

	var stderr bytes.Buffer
	code := Main(Build{}, []string{"--token-file", tokens, "run", "--log-file=", "--socket", sock, "--app-config", app, "--token-url", srv.URL}, &bytes.Buffer{}, &stderr)
	if code != 0 {
		t.Fatalf("run: exit %d\n%s", code, &stderr)
	}
	var doc struct {
		Token map[string]json.RawMessage `json:"token"`
	}
	data := testutil.Read(t, tokens)
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"refresh_token_expires_in": `604800`,
		"x_nested":                 `{"a":[1,2.5,"s"]}`,
		"x_mine":                   `true`,
		"access_token":             `"AT-extra-0123456789"`,
	} {
		var got bytes.Buffer
		if err := json.Compact(&got, doc.Token[k]); err != nil || got.String() != want {
			t.Errorf("token.%s = %s, want %s\n%s", k, doc.Token[k], want, data)
		}
	}
	f, err := store.ParseTokenFile(data)
	if err != nil {
		t.Fatalf("the file no longer parses: %v", err)
	}

	// deliver reads the file with the extra fields and pushes it.
	code = Main(Build{}, []string{"--token-file", tokens, "deliver", "--log-file=", "--socket", sock}, &bytes.Buffer{}, &stderr)
	if code != 0 {
		t.Fatalf("deliver: exit %d\n%s", code, &stderr)
	}
	got := rcv.Received()
	if len(got) != 2 || !got[1].OK || got[1].AccessToken != f.Token.AccessToken || got[1].ExpiresAt != f.Token.ExpiresAt {
		t.Fatalf("bot received %+v, want run's and deliver's message with %s", got, human.Secret(f.Token.AccessToken))
	}
}
