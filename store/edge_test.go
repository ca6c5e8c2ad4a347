package store

import (
	"bytes"
	"strings"
	"testing"
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
	pad := MaxTokenFile - len(file(0).Marshal())
	for _, tt := range []struct {
		pad      int
		indented bool
	}{{pad, true}, {pad + 1, false}} {
		f := file(tt.pad)
		size := len(f.Marshal())
		got := f.encode()
		if indented := bytes.Contains(got, []byte("\n    ")); indented != tt.indented {
			t.Errorf("indented form of %d bytes (cap %d): written indented %v, want %v", size, MaxTokenFile, indented, tt.indented)
		}
	}
}
