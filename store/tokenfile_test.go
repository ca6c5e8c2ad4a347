package store

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/oauth"
)

func TestParseTokenFile(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Token
		created int64
		wantErr string // substring; "" for success
	}{
		{
			name:    "seed",
			in:      `{"creation_timestamp": 1762983055, "token": {"expires_in": 1800, "token_type": "Bearer", "scope": "api", "refresh_token": "RT", "access_token": "AT", "id_token": "ID", "expires_at": 1762984855}}`,
			want:    Token{AccessToken: "AT", RefreshToken: "RT", IDToken: "ID", TokenType: "Bearer", Scope: "api", ExpiresIn: 1800, ExpiresAt: 1762984855},
			created: 1762983055,
		},
		{
			name: "float timestamps from a Python writer",
			in:   `{"creation_timestamp": 1762983055.7, "token": {"refresh_token": "RT", "expires_at": 1762984855.9}}`,
			want: Token{RefreshToken: "RT", ExpiresAt: 1762984855}, created: 1762983055,
		},
		{name: "empty", in: "", wantErr: "token file: empty"},
		{name: "whitespace", in: " \n", wantErr: "token file: empty"},
		{name: "truncated", in: `{"creation_timestamp": 1, "token": {"refresh_`, wantErr: "not valid JSON"},
		{name: "array", in: `[]`, wantErr: "want a JSON object, found an array"},
		{name: "trailing data", in: `{"token": {"refresh_token": "RT"}} {}`, wantErr: "unexpected data"},
		{name: "null token", in: `{"creation_timestamp": 1, "token": null}`, wantErr: `"token" is null`},
		{name: "token not object", in: `{"token": "x"}`, wantErr: `"token": want a JSON object, found a string`},
		{name: "no token", in: `{"creation_timestamp": 1}`, wantErr: `no "token" object`},
		{name: "missing refresh_token", in: `{"token": {"access_token": "AT"}}`, wantErr: "no refresh_token"},
		{name: "empty refresh_token", in: `{"token": {"refresh_token": ""}}`, wantErr: "no refresh_token"},
		{name: "refresh_token number", in: `{"token": {"refresh_token": 5}}`, wantErr: "token.refresh_token is not a string"},
		{name: "access_token null", in: `{"token": {"refresh_token": "RT", "access_token": null}}`, wantErr: "token.access_token is not a string"},
		{name: "expires_at string", in: `{"token": {"refresh_token": "RT", "expires_at": "1762984855"}}`, wantErr: "token.expires_at: not a number"},
		{name: "creation_timestamp bool", in: `{"creation_timestamp": true, "token": {"refresh_token": "RT"}}`, wantErr: "creation_timestamp: not a number"},
		{name: "expires_at huge", in: `{"token": {"refresh_token": "RT", "expires_at": 1e300}}`, wantErr: "out of range"},
		{
			name:    "flat first-login file",
			in:      `{"access_token": "AT", "refresh_token": "RT", "expires_at": "2026-11-27T10:00:00"}`,
			wantErr: "found tokens at the top level",
		},
		{
			name: "missing creation_timestamp is allowed",
			in:   `{"token": {"refresh_token": "RT"}}`,
			want: Token{RefreshToken: "RT"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseTokenFile([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if code := exit.Code(err); code != exit.Data {
					t.Errorf("exit code = %d, want %d", code, exit.Data)
				}
				if exit.Hint(err) == "" {
					t.Error("no hint")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, f.Token); diff != "" {
				t.Errorf("token (-want +got):\n%s", diff)
			}
			if f.CreationTimestamp != tt.created {
				t.Errorf("creation_timestamp = %d, want %d", f.CreationTimestamp, tt.created)
			}
		})
	}
}

func TestFlatFileHintNamesIt(t *testing.T) {
	_, err := ParseTokenFile([]byte(`{"access_token": "AT", "refresh_token": "RT", "expires_at": "2026-11-27T10:00:00"}`))
	if h := exit.Hint(err); !strings.Contains(h, "first-login helper") {
		t.Errorf("hint = %q, want it to name the first-login helper", h)
	}
}

// An update keeps every field we do not know, at both levels, in place.
func TestApplyKeepsUnknownFields(t *testing.T) {
	in := `{
    "creation_timestamp": 1762983055,
    "dashboard": {"theme": "dark", "n": [1, 2.50, 3e2]},
    "token": {
        "expires_in": 1800,
        "token_type": "Bearer",
        "scope": "api",
        "refresh_token": "RT",
        "access_token": "AT-old",
        "id_token": "ID-old",
        "expires_at": 1762984855,
        "x_custom": "keep me"
    },
    "zzz": null
}`
	f, err := ParseTokenFile([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1763000000, 0)
	f.Apply(&oauth.Response{AccessToken: "AT-new", RefreshToken: "RT", IDToken: "ID-new", TokenType: "Bearer", Scope: "api", ExpiresIn: 1800}, now)
	want := `{
    "creation_timestamp": 1762983055,
    "dashboard": {
        "theme": "dark",
        "n": [
            1,
            2.50,
            3e2
        ]
    },
    "token": {
        "expires_in": 1800,
        "token_type": "Bearer",
        "scope": "api",
        "refresh_token": "RT",
        "access_token": "AT-new",
        "id_token": "ID-new",
        "expires_at": 1763001800,
        "x_custom": "keep me"
    },
    "zzz": null
}
`
	if diff := cmp.Diff(want, string(f.Marshal())); diff != "" {
		t.Errorf("file (-want +got):\n%s", diff)
	}
}

func TestApply(t *testing.T) {
	now := time.Unix(1763000000, 0)
	base := `{"creation_timestamp": 1762983055, "token": {"refresh_token": "RT", "access_token": "AT", "expires_in": 1800, "expires_at": 1}}`
	tests := []struct {
		name    string
		resp    oauth.Response
		want    Token
		created int64
	}{
		{
			name:    "same refresh token keeps the 7-day clock",
			resp:    oauth.Response{AccessToken: "AT2", RefreshToken: "RT", ExpiresIn: 1800},
			want:    Token{AccessToken: "AT2", RefreshToken: "RT", ExpiresIn: 1800, ExpiresAt: 1763001800},
			created: 1762983055,
		},
		{
			name:    "no refresh token in the response keeps ours",
			resp:    oauth.Response{AccessToken: "AT2", ExpiresIn: 900},
			want:    Token{AccessToken: "AT2", RefreshToken: "RT", ExpiresIn: 900, ExpiresAt: 1763000900},
			created: 1762983055,
		},
		{
			name:    "a new refresh token starts a new clock",
			resp:    oauth.Response{AccessToken: "AT2", RefreshToken: "RT2", ExpiresIn: 1800, TokenType: "Bearer", Scope: "api", IDToken: "I"},
			want:    Token{AccessToken: "AT2", RefreshToken: "RT2", IDToken: "I", TokenType: "Bearer", Scope: "api", ExpiresIn: 1800, ExpiresAt: 1763001800},
			created: 1763000000,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseTokenFile([]byte(base))
			if err != nil {
				t.Fatal(err)
			}
			f.Apply(&tt.resp, now)
			// What is written must read back the same.
			g, err := ParseTokenFile(f.Marshal())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, g.Token); diff != "" {
				t.Errorf("token (-want +got):\n%s", diff)
			}
			if g.CreationTimestamp != tt.created {
				t.Errorf("creation_timestamp = %d, want %d", g.CreationTimestamp, tt.created)
			}
		})
	}
}

func TestSeedRoundTrip(t *testing.T) {
	data, err := os.ReadFile("../testdata/schwab_tokens.json")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ParseTokenFile(data)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(data), string(f.Marshal())); diff != "" {
		t.Errorf("an unchanged seed file must marshal byte-identical (-want +got):\n%s", diff)
	}
	if !json.Valid(f.Marshal()) {
		t.Error("invalid JSON")
	}
}

func TestIssued(t *testing.T) {
	if got := (Token{ExpiresAt: 5000, ExpiresIn: 1000}).Issued().Unix(); got != 4000 {
		t.Errorf("Issued = %d, want 4000", got)
	}
	if got := (Token{ExpiresAt: 5000}).Issued().Unix(); got != 5000-DefaultExpiresIn {
		t.Errorf("Issued without expires_in = %d, want %d", got, 5000-DefaultExpiresIn)
	}
}

// A login's file is {"creation_timestamp": now, "token": {every field of
// the answer, "expires_at"}}, in Schwab's order, and reads back as it was
// made.
func TestNewTokenFile(t *testing.T) {
	r := &oauth.Response{AccessToken: "AT", RefreshToken: "RT", IDToken: "ID", TokenType: "Bearer", Scope: "api", ExpiresIn: 1800,
		Extra: []oauth.Field{{Name: "refresh_token_expires_in", Value: []byte("604800")}}}
	now := time.Unix(1_800_000_000, 0)
	f := NewTokenFile(r, now)
	want := `{
    "creation_timestamp": 1800000000,
    "token": {
        "expires_in": 1800,
        "token_type": "Bearer",
        "scope": "api",
        "refresh_token": "RT",
        "access_token": "AT",
        "id_token": "ID",
        "refresh_token_expires_in": 604800,
        "expires_at": 1800001800
    }
}
`
	if got := string(f.Marshal()); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	back, err := ParseTokenFile(f.Marshal())
	if err != nil || back.Token != f.Token || back.CreationTimestamp != now.Unix() {
		t.Errorf("read back: %+v, %v", back, err)
	}
	// Without the optional fields, none is made up.
	f = NewTokenFile(&oauth.Response{AccessToken: "AT", RefreshToken: "RT", ExpiresIn: 900}, now)
	if got := string(f.Marshal()); strings.Contains(got, "scope") || strings.Contains(got, "id_token") || !strings.Contains(got, `"expires_at": 1800000900`) {
		t.Errorf("minimal answer:\n%s", got)
	}
}

// A key given twice keeps its first place and takes its last value, as
// Python's json.load does for the value; the others keep their order.
func TestDuplicateKeyKeepsPlace(t *testing.T) {
	f, err := ParseTokenFile([]byte(`{"a": 1, "token": {"refresh_token": "RT1", "x": 1, "refresh_token": "RT2"}, "b": 2, "a": 3}`))
	if err != nil {
		t.Fatal(err)
	}
	want := `{
    "a": 3,
    "token": {
        "refresh_token": "RT2",
        "x": 1
    },
    "b": 2
}
`
	if got := string(f.Marshal()); got != want || f.Token.RefreshToken != "RT2" {
		t.Errorf("got %q (refresh token %q), want\n%s", got, f.Token.RefreshToken, want)
	}
}
