package harness

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseMessage(t *testing.T) {
	long := strings.Repeat("a", 5000)
	tests := []struct {
		name    string
		in      string
		want    Message
		wantErr string
	}{
		{"valid", `{"access_token":"AT","refresh_token":"RT","expires_at":1762984855}`,
			Message{"AT", "RT", 1762984855}, ""},
		{"spaces and newline", "{ \"access_token\": \"AT\", \"refresh_token\": \"RT\", \"expires_at\": 5 }\n",
			Message{"AT", "RT", 5}, ""},
		{"unknown fields ignored", `{"access_token":"AT","refresh_token":"RT","expires_at":5,"id_token":"x"}`,
			Message{"AT", "RT", 5}, ""},
		{"negative expires_at", `{"access_token":"AT","refresh_token":"RT","expires_at":-1}`,
			Message{"AT", "RT", -1}, ""},
		{"empty tokens are strings", `{"access_token":"","refresh_token":"","expires_at":0}`,
			Message{}, ""},
		{"long message parses alone", `{"access_token":"` + long + `","refresh_token":"RT","expires_at":5}`,
			Message{long, "RT", 5}, ""},
		{"string expires_at", `{"access_token":"AT","refresh_token":"RT","expires_at":"1762984855"}`,
			Message{}, "expires_at: not an integer: string"},
		{"float expires_at", `{"access_token":"AT","refresh_token":"RT","expires_at":1.5}`,
			Message{}, "expires_at: not an integer: 1.5"},
		{"integral float expires_at", `{"access_token":"AT","refresh_token":"RT","expires_at":1.0}`,
			Message{}, "expires_at: not an integer: 1.0"},
		{"exponent expires_at", `{"access_token":"AT","refresh_token":"RT","expires_at":1e9}`,
			Message{}, "expires_at: not an integer: 1e9"},
		{"huge expires_at", `{"access_token":"AT","refresh_token":"RT","expires_at":99999999999999999999}`,
			Message{}, "expires_at: integer out of range: 99999999999999999999"},
		{"null expires_at", `{"access_token":"AT","refresh_token":"RT","expires_at":null}`,
			Message{}, "expires_at: not an integer: null"},
		{"number access_token", `{"access_token":1,"refresh_token":"RT","expires_at":5}`,
			Message{}, "access_token: not a string: number"},
		{"null refresh_token", `{"access_token":"AT","refresh_token":null,"expires_at":5}`,
			Message{}, "refresh_token: not a string: null"},
		{"missing access_token", `{"refresh_token":"RT","expires_at":5}`,
			Message{}, "access_token: missing"},
		{"missing refresh_token", `{"access_token":"AT","expires_at":5}`,
			Message{}, "refresh_token: missing"},
		{"missing expires_at", `{"access_token":"AT","refresh_token":"RT"}`,
			Message{}, "expires_at: missing"},
		{"not JSON", `hello`,
			Message{}, "not JSON: invalid character 'h' looking for beginning of value"},
		{"empty", ``,
			Message{}, "not JSON: unexpected end of JSON input"},
		{"first half of a split message", `{"access_token":"AT","refresh_tok`,
			Message{}, "not JSON: unexpected end of JSON input"},
		{"two messages", `{"access_token":"AT","refresh_token":"RT","expires_at":5}{}`,
			Message{}, "not JSON: invalid character '{' after top-level value"},
		{"first 4095 bytes of a longer message", (`{"access_token":"` + long)[:MaxMessage],
			Message{}, "not JSON: unexpected end of JSON input"},
		{"invalid UTF-8", "{\"access_token\":\"\xff\",\"refresh_token\":\"RT\",\"expires_at\":5}",
			Message{}, "not JSON: invalid UTF-8"},
		{"array", `[1,2]`, Message{}, "not a JSON object"},
		{"null", `null`, Message{}, "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMessage([]byte(tt.in))
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
			if gotErr != tt.wantErr {
				t.Errorf("error = %q, want %q", gotErr, tt.wantErr)
			}
		})
	}
}

func TestParseMessageErrorKinds(t *testing.T) {
	_, err := ParseMessage([]byte(`{"access_token`))
	if !errors.Is(err, ErrNotJSON) {
		t.Errorf("truncated message: %v is not ErrNotJSON", err)
	}
	_, err = ParseMessage([]byte(`{"access_token":"AT","refresh_token":"RT","expires_at":"5"}`))
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "expires_at" {
		t.Errorf("string expires_at: %v is not a FieldError for expires_at", err)
	}
}

func TestRedact(t *testing.T) {
	tests := map[string]string{
		"":                 `""`,
		"ab":               "a…",
		"abcd":             "ab…",
		"AT-ABCDEFGHIJKLM": "AT-A…",
		"ééééééééé":        "éééé…",
	}
	for in, want := range tests {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParseMessage checks that whatever the parser accepts is a valid JSON
// object whose fields survive a round trip through the sender's encoding.
func FuzzParseMessage(f *testing.F) {
	for _, seed := range []string{
		`{"access_token":"AT","refresh_token":"RT","expires_at":1762984855}`,
		`{"access_token":"AT","refresh_token":"RT","expires_at":1.5}`,
		`{"access_token":"AT","refresh_token":"RT","expires_at":"5"}`,
		`{"access_token":"\u00e9\n","refresh_token":"","expires_at":-9223372036854775808}`,
		`{"access_token":"AT","refresh_tok`,
		`[]`,
		``,
	} {
		f.Add([]byte(seed))
	}
	files, _ := filepath.Glob("../testdata/corpus/messages/*")
	if len(files) == 0 {
		f.Fatal("no seeds in testdata/corpus/messages")
	}
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMessage(data)
		if err != nil {
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := ParseMessage(again)
		if err != nil {
			t.Fatalf("re-encoded message %s rejected: %v", again, err)
		}
		if diff := cmp.Diff(m, m2); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

// The bot's JSON library accepts more than the contract: a BOM, and any
// number as expires_at, truncated, or clamped where no int64 holds it (a
// garbage expiry). It refuses what is not JSON and a field of the wrong
// type, as ParseMessage does.
func TestParseMessageLenient(t *testing.T) {
	const head = `{"access_token":"AT","refresh_token":"RT","expires_at":`
	tests := []struct {
		in      string
		want    int64
		wantErr string
	}{
		{head + `1762984855}`, 1762984855, ""},
		{head + `1.7e9}`, 1700000000, ""},
		{head + `1700000000.5}`, 1700000000, ""},
		{head + `1700000000.999}`, 1700000000, ""},
		{head + `-1.5}`, -1, ""},
		{head + `1.0}`, 1, ""},
		{head + `17E8}`, 1700000000, ""},
		{"\xef\xbb\xbf" + head + `5}`, 5, ""},
		{head + `9.3e18}`, math.MaxInt64, ""}, // a garbage expiry, as the bot's
		{head + `9223372036854775808}`, math.MaxInt64, ""},
		{head + `1e300}`, math.MaxInt64, ""},
		{head + `-1e300}`, math.MinInt64, ""},
		{head + `99999999999999999999}`, math.MaxInt64, ""},
		{head + `"1700000000"}`, 0, "expires_at: not an integer: string"},
		{head + `true}`, 0, "expires_at: not an integer: boolean"},
		{head + `null}`, 0, "expires_at: not an integer: null"},
		{`{"access_token":1,"refresh_token":"RT","expires_at":5}`, 0, "access_token: not a string: number"},
		{"\xef\xbb\xbf\xef\xbb\xbf" + head + `5}`, 0, "not JSON: invalid character 'ï' looking for beginning of value"},
		{" \xef\xbb\xbf" + head + `5}`, 0, "not JSON: invalid character 'ï' looking for beginning of value"},
		{head + `5}{}`, 0, "not JSON: invalid character '{' after top-level value"},
	}
	for _, tt := range tests {
		got, err := ParseMessageLenient([]byte(tt.in))
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if gotErr != tt.wantErr || got.ExpiresAt != tt.want {
			t.Errorf("ParseMessageLenient(%q) = %d, %q; want %d, %q", tt.in, got.ExpiresAt, gotErr, tt.want, tt.wantErr)
		}
		if err == nil && (got.AccessToken != "AT" || got.RefreshToken != "RT") {
			t.Errorf("ParseMessageLenient(%q) = %+v, tokens lost", tt.in, got)
		}
		// Strict accepts only the plain integer.
		if _, err := ParseMessage([]byte(tt.in)); (err == nil) != (tt.in == head+`1762984855}`) {
			t.Errorf("ParseMessage(%q) = %v", tt.in, err)
		}
	}
	if _, err := ParseMode("").Parse([]byte(head + `1.5}`)); err == nil {
		t.Error("the empty parse mode is lenient, want strict")
	}
}

// The bot's JSON receiver answers OK, applying part or none of the token,
// to a message with a field missing, to {}, to any JSON value that is not
// an object, and to the whole schwab-py token file sent as the message;
// only bytes that are not JSON or a present field of the wrong type are
// ERROR.
func TestParseLenientAppliesWhatIsThere(t *testing.T) {
	file, err := os.ReadFile("../testdata/schwab_tokens.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		in      string
		want    Message
		applied applied
		err     string
	}{
		{`{"access_token":"AT","expires_at":5}`, Message{AccessToken: "AT", ExpiresAt: 5}, applied{AccessToken: true, ExpiresAt: true}, ""},
		{`{"refresh_token":"RT"}`, Message{RefreshToken: "RT"}, applied{RefreshToken: true}, ""},
		{`{}`, Message{}, applied{}, ""},
		{`[1,2]`, Message{}, applied{}, ""},
		{`"AT"`, Message{}, applied{}, ""},
		{`42`, Message{}, applied{}, ""},
		{`null`, Message{}, applied{}, ""},
		{`true`, Message{}, applied{}, ""},
		{string(file), Message{}, applied{}, ""},
		{`{"access_token":7}`, Message{}, applied{}, "access_token: not a string: number"},
		{`{"expires_at":"5"}`, Message{}, applied{}, "expires_at: not an integer: string"},
		{`{"access_token":"AT"`, Message{}, applied{}, "not JSON"},
		{"\xff", Message{}, applied{}, "not JSON: invalid UTF-8"},
	} {
		m, a, err := parseLenient([]byte(tt.in))
		if m != tt.want || a != tt.applied || (tt.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("parseLenient(%.40q) = %+v, %+v, %v; want %+v, %+v, %q", tt.in, m, a, err, tt.want, tt.applied, tt.err)
		}
	}
}
