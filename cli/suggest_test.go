package cli

import (
	"testing"
)

func TestDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"", "abc", 3},
		{"abc", "", 3},
		{"status", "status", 0},
		{"statuss", "status", 1}, // one inserted
		{"stauts", "status", 2},  // two swapped: two edits
		{"logn", "login", 1},     // one deleted
		{"kitten", "sitting", 3}, // the classic
		{"SOKET", "SOCKET", 1},
		{"abcdef", "azcdef", 1}, // one changed
	} {
		if got := distance(tt.a, tt.b); got != tt.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// nearest takes the closest candidate within a third of the word's length:
// a misspelling, not any other word.
func TestNearest(t *testing.T) {
	names := []string{"run", "deliver", "status", "login", "version"}
	for in, want := range map[string]string{
		"statuss": "status", "stauts": "status", "logn": "login", "delivr": "deliver",
		"versoin": "version", "xyzzy": "", "rn": "", "": "", "statusxyz": "status", "statusxyzw": "",
	} {
		if got := nearest(in, names); got != want {
			t.Errorf("nearest(%q) = %q, want %q", in, got, want)
		}
	}
}

// The docs' directory named in --help is the build's, else the package's.
func TestDocDir(t *testing.T) {
	if got := (Build{}).docDir(); got != DefaultDocDir {
		t.Errorf("default docdir %q", got)
	}
	if got := (Build{DocDir: "/opt/d"}).docDir(); got != "/opt/d" {
		t.Errorf("docdir %q, want /opt/d", got)
	}
}
