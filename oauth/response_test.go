package oauth

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Fields beyond the six known ones are kept, in the answer's order, with
// their values as written; the last of a repeated field wins.
func TestResponseKeepsExtraFields(t *testing.T) {
	body := `{"expires_in":1800,"refresh_token_expires_in":604800,"token_type":"Bearer","scope":"api",` +
		`"refresh_token":"RT","access_token":"AT","id_token":"ID","x":{"a": [1, "b"]},"y":null,"x":2}`
	r, err := Classify(200, nil, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := []Field{{"refresh_token_expires_in", []byte("604800")}, {"x", []byte("2")}, {"y", []byte("null")}}
	if diff := cmp.Diff(want, r.Extra); diff != "" {
		t.Errorf("Extra (-want +got):\n%s", diff)
	}
	if r.AccessToken != "AT" || r.RefreshToken != "RT" || r.ExpiresIn != 1800 {
		t.Errorf("known fields lost: %+v", r)
	}

	// An answer far beyond Schwab's few hundred bytes keeps only the known
	// fields: the token file must stay readable.
	big := `{"access_token":"AT","expires_in":1800,"pad":"` + strings.Repeat("x", maxExtra) + `"}`
	r, err = Classify(200, nil, []byte(big))
	if err != nil {
		t.Fatal(err)
	}
	if r.Extra != nil || r.AccessToken != "AT" {
		t.Errorf("oversized answer: Extra %d fields, access token %q", len(r.Extra), r.AccessToken)
	}

	// The bound itself: an answer of exactly maxExtra bytes keeps its
	// extra field, one byte more does not.
	for _, tt := range []struct {
		size int
		kept bool
	}{{maxExtra, true}, {maxExtra + 1, false}} {
		head := `{"access_token":"AT","expires_in":1800,"pad":"`
		body := head + strings.Repeat("x", tt.size-len(head)-2) + `"}`
		r, err := Classify(200, nil, []byte(body))
		if err != nil || len(body) != tt.size {
			t.Fatalf("%d bytes (%d): %v", tt.size, len(body), err)
		}
		if kept := len(r.Extra) == 1; kept != tt.kept {
			t.Errorf("%d-byte answer: extra field kept %v, want %v", tt.size, kept, tt.kept)
		}
	}
}
