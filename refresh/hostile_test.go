package refresh

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/refresh-token/refresh-token/harness"
	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/fixture"
	"github.com/refresh-token/refresh-token/internal/testutil"
	"github.com/refresh-token/refresh-token/store"
)

// What a run writes, the next run reads. A file of '<' characters (which
// json.Marshal would write as six-byte \u003c) and a file nested deep
// enough that indenting multiplies it both come back under the 1 MiB read
// cap; a file nested thousands deep is refused as it is read.
func TestWrittenFileReadsBack(t *testing.T) {
	lt := strings.Repeat("<", 150_000)
	deep := strings.Repeat("[", 30) + strings.TrimSuffix(strings.Repeat("1,", 20_000), ",") + strings.Repeat("]", 30)
	tests := []struct {
		name, unknown string
		compact       bool // the file is written compact, not indented
	}{
		{"key of '<'", `"` + lt + `": 1`, false},
		{"value of '<'", `"x": "` + lt + `&>"`, false},
		{"30 deep, 20,000 elements", `"x": ` + deep, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fixture.NewRig(t, harness.SchwabConfig{})
			before := []byte(`{"creation_timestamp": 1, "token": {"refresh_token": "` + fixture.RefreshToken + `", "expires_in": 1800, "expires_at": 1, ` + tt.unknown + `}}`)
			if len(before) > store.MaxTokenFile {
				t.Fatalf("input of %d bytes is over the cap", len(before))
			}
			os.WriteFile(r.Tokens, before, 0o600)
			var logs bytes.Buffer
			if _, err := Run(context.Background(), options(r, &logs)); err != nil {
				t.Fatalf("run: %v\n%s", err, logs.String())
			}
			after := testutil.Read(t, r.Tokens)
			if len(after) > store.MaxTokenFile || bytes.Contains(after, []byte(`\u003c`)) {
				t.Errorf("wrote %d bytes (escaped: %v), want at most %d, unescaped", len(after), bytes.Contains(after, []byte(`\u003c`)), store.MaxTokenFile)
			}
			if got := bytes.HasPrefix(after, []byte(`{"`)); got != tt.compact {
				t.Errorf("written compact = %v, want %v", got, tt.compact)
			}
			f, err := store.ReadTokenFile(context.Background(), r.Tokens, discard())
			if err != nil {
				t.Fatalf("the next run cannot read what this one wrote: %v", err)
			}
			if f.Token.AccessToken == "" || bytes.Count(after, []byte("<")) != bytes.Count(before, []byte("<")) {
				t.Errorf("refresh or unknown field lost")
			}
		})
	}
}

// A value nested 3,000 deep (36 MB once indented) is refused as it is
// read: exit 65, no request, the file as it was.
func TestDeepTokenFileRefused(t *testing.T) {
	r := fixture.NewRig(t, harness.SchwabConfig{})
	prefix := `{"token": {"refresh_token": "` + fixture.RefreshToken + `", "x": `
	before := []byte(prefix + strings.Repeat("[", 3000) + strings.Repeat("]", 3000) + `}}`)
	os.WriteFile(r.Tokens, before, 0o600)
	_, err := Run(context.Background(), options(r, &bytes.Buffer{}))
	// The 33rd level: "token" is the 2nd, the 31st bracket the 33rd.
	want := fmt.Sprintf("nested more than 32 levels deep at byte %d", len(prefix)+31)
	if exit.Code(err) != exit.Data || !strings.Contains(err.Error(), want) {
		t.Errorf("exit %d (%v), want 65 naming the depth and offset", exit.Code(err), err)
	}
	if n := r.Schwab.Requests(); n != 0 {
		t.Errorf("%d requests, want 0", n)
	}
	if !bytes.Equal(testutil.Read(t, r.Tokens), before) {
		t.Error("token file changed")
	}
	// Brackets in strings, after an escaped quote too, are not nesting.
	ok := []byte(`{"token": {"refresh_token": "RT", "x": "\\\"` + strings.Repeat("[", 3000) + `\"{"}}`)
	if _, err := store.ParseTokenFile(ok); err != nil {
		t.Errorf("brackets in a string: %v", err)
	}
}

// A file at the cap that the refresh's new fields push past it is not
// written, however compact: exit 73 with a hint, the old file kept, and
// the new token still goes to the bot.
func TestRunRefusesWriteOverCap(t *testing.T) {
	r := fixture.NewRig(t, harness.SchwabConfig{})
	head := `{"creation_timestamp":1,"token":{"refresh_token":"` + fixture.RefreshToken + `","expires_in":1800,"expires_at":1,"x":"`
	before := []byte(head + strings.Repeat("p", store.MaxTokenFile-len(head)-3) + `"}}`)
	if len(before) != store.MaxTokenFile {
		t.Fatalf("input is %d bytes", len(before))
	}
	os.WriteFile(r.Tokens, before, 0o600)
	var logs bytes.Buffer
	_, err := Run(context.Background(), options(r, &logs))
	if exit.Code(err) != exit.CantCreate || !strings.Contains(err.Error(), "over the 1 MiB that a run reads back") || !strings.Contains(exit.Hint(err), "unknown fields too big") {
		t.Errorf("exit %d (%v, hint %q), want 73 with the size hint", exit.Code(err), err, exit.Hint(err))
	}
	if !bytes.Equal(testutil.Read(t, r.Tokens), before) {
		t.Error("token file changed")
	}
	if !strings.Contains(logs.String(), "Bot socket not found") {
		t.Errorf("no delivery attempted:\n%s", logs.String())
	}
	if left := r.Leftovers(t); len(left) > 0 {
		t.Errorf("files left beside the token file: %v", left)
	}
}
