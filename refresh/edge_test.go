package refresh

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refresh-token/refresh-token/deliver"
	"github.com/refresh-token/refresh-token/internal/exit"
)

// Depth counts nesting, not brackets: many objects side by side are as
// shallow as one.
func TestCheckDepthSiblings(t *testing.T) {
	siblings := `{"token": {"refresh_token": "RT"}, "list": [` + strings.Repeat(`{"a": [1]}, `, 40) + `{}]}`
	if i := checkDepth([]byte(siblings)); i != -1 {
		t.Fatalf("checkDepth = %d for 40 sibling objects, want -1", i)
	}
	if _, err := ParseTokenFile([]byte(siblings)); err != nil {
		t.Fatalf("a file with 40 sibling objects: %v", err)
	}
}

// A byte that is not valid JSON is named as a character when it is a
// visible one and by its value otherwise (a space, DEL, a control byte).
func TestJSONProblemNamesTheByte(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`{"a": tru e}`, "byte 0x20 at byte 10"},
		{"{\"a\": \x7f}", "byte 0x7f at byte 7"},
		{`{"a": h}`, `'h' at byte 7`},
		{`{"a": ~}`, `'~' at byte 7`},
		{`{"a": !}`, `'!' at byte 7`},
	} {
		_, err := ParseTokenFile([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.in, err, tt.want)
		}
	}
}

// A message over the receiver's limit is refused before any connection:
// with --require-delivery it is exit 75 and names the limit; the socket is
// never dialled (a missing socket would be "not running" instead).
func TestPushRefusesOversizedMessage(t *testing.T) {
	tok := Token{AccessToken: strings.Repeat("A", 4100), RefreshToken: "RT", ExpiresAt: 1}
	var logs bytes.Buffer
	d := Delivery{Sockets: []string{filepath.Join(t.TempDir(), "none.sock")}, Retries: 1, Require: true}
	ok, err := push(context.Background(), tok, d, slog.New(slog.NewTextHandler(&logs, nil)))
	if ok || exit.Code(err) != exit.TempFail || !strings.Contains(fmt.Sprint(err), "message too large") {
		t.Fatalf("ok %v, err %v (exit %d), want 75 for a message too large\n%s", ok, err, exit.Code(err), logs.String())
	}
	d.Ack = deliver.AckNone // 8191 bytes: the same token fits
	if _, err := push(context.Background(), tok, d, slog.New(slog.NewTextHandler(&logs, nil))); strings.Contains(fmt.Sprint(err), "too large") {
		t.Fatalf("--ack=none refused a message under 8191 bytes: %v", err)
	}
}

// A file whose indented form is exactly the 1 MiB a run reads back is
// written indented; one byte more, compact.
func TestEncodeTokenFileAtTheCap(t *testing.T) {
	file := func(pad int) *TokenFile {
		f, err := ParseTokenFile([]byte(`{"creation_timestamp": 1, "token": {"refresh_token": "RT", "pad": "` + strings.Repeat("x", pad) + `"}}`))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	pad := maxTokenFile - len(file(0).Marshal())
	for _, tt := range []struct {
		pad      int
		indented bool
	}{{pad, true}, {pad + 1, false}} {
		f := file(tt.pad)
		size := len(f.Marshal())
		got := encodeTokenFile(f)
		if indented := bytes.Contains(got, []byte("\n    ")); indented != tt.indented {
			t.Errorf("indented form of %d bytes (cap %d): written indented %v, want %v", size, maxTokenFile, indented, tt.indented)
		}
	}
}
