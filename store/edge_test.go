package store

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

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

// The depth limit is exactly 32: a file nested 32 deep reads, 33 deep is
// refused, naming the byte of the 33rd opening bracket.
func TestDepthLimitBoundary(t *testing.T) {
	at := func(levels int) []byte { // the token object is level 2
		return []byte(`{"token": {"refresh_token": "RT", "x": ` + strings.Repeat("[", levels-2) + strings.Repeat("]", levels-2) + `}}`)
	}
	if _, err := ParseTokenFile(at(32)); err != nil {
		t.Errorf("32 levels: %v", err)
	}
	data := at(33)
	_, err := ParseTokenFile(data)
	want := fmt.Sprintf("nested more than 32 levels deep at byte %d", bytes.LastIndexByte(data, '[')+1)
	if exit.Code(err) != exit.Data || !strings.Contains(fmt.Sprint(err), want) {
		t.Errorf("33 levels: %v, want exit 65 with %q", err, want)
	}
}
