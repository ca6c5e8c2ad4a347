package harness

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// MaxMessage is the largest message the bot's JSON receiver reads: one recv
// into a 4096-byte buffer that is then NUL-terminated.
const MaxMessage = 4095

// NoAckRead is the size of the single recv of the bot's TokenReceiver, the
// receiver that replies nothing.
const NoAckRead = 8192

// ParseMode says how strictly a message is parsed.
type ParseMode string

const (
	// ParseStrict accepts exactly the protocol's contract, what the
	// original Python sender and refresh-token send: see [ParseMessage].
	ParseStrict ParseMode = "strict"
	// ParseLenient accepts what the bot's JSON library (nlohmann::json)
	// accepts: see [ParseMessageLenient].
	ParseLenient ParseMode = "lenient"
)

// utf8BOM is skipped before the JSON by nlohmann::json.
var utf8BOM = []byte("\xef\xbb\xbf")

// Message is the token update the bot accepts.
type Message struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresAt    int64  `json:"expires_at"`
}

// ErrNotJSON reports a message that is not one JSON value: truncated, split
// across writes, or followed by more data.
var ErrNotJSON = errors.New("not JSON")

// FieldError reports a field that is missing or has the wrong JSON type.
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// ParseMessage checks a message against the protocol's contract: one JSON
// value, valid UTF-8, nothing before or after it but white space, that is an
// object whose access_token and refresh_token are strings and whose
// expires_at is an integer written without a fraction or an exponent, in
// int64 range. Unknown fields are ignored; of a repeated key the last counts.
//
// This is stricter than the bot: its JSON library (nlohmann::json) converts
// any number to the time_t of expires_at, truncating 1.5 or 1.7e9, and skips
// a UTF-8 BOM. ParseMessage refuses those, so that tests catch a sender that
// relies on them; [ParseMessageLenient] is the bot's own behaviour.
func ParseMessage(data []byte) (Message, error) {
	return parseMessage(data, false)
}

// ParseMessageLenient checks a message the way the bot's JSON receiver does
// (token_manager.cpp: nlohmann::json, then each field applied when present,
// with get<std::string> and get<time_t>). It answers ERROR only when the
// bytes are not JSON (invalid UTF-8, data after the value) or a field that
// is present has the wrong type (a non-string token; a string, boolean or
// null expires_at). Everything else is applied, in part or not at all:
//
//   - a UTF-8 byte order mark before the JSON is skipped;
//   - a missing field is left as it was (zero here);
//   - a JSON value that is not an object ({} too, [...], "...", 42, null,
//     true), and so the whole schwab-py token file, applies nothing;
//   - an expires_at with a fraction or an exponent (1700000000.5, 1.7e9,
//     1.0) is truncated toward zero; one outside int64 (2^63, 1e300) is a
//     garbage expiry: the C++ conversion is undefined, and here it is the
//     nearest int64.
func ParseMessageLenient(data []byte) (Message, error) {
	m, _, err := parseLenient(bytes.TrimPrefix(data, utf8BOM))
	return m, err
}

// applied names the fields of a message that the lenient parser applied.
type applied struct{ AccessToken, RefreshToken, ExpiresAt bool }

// parseLenient is ParseMessageLenient, and which fields it applied.
func parseLenient(data []byte) (Message, applied, error) {
	var m Message
	var a applied
	if !utf8.Valid(data) {
		return m, a, fmt.Errorf("%w: invalid UTF-8", ErrNotJSON)
	}
	var value json.RawMessage
	if err := json.Unmarshal(data, &value); err != nil {
		return m, a, fmt.Errorf("%w: %v", ErrNotJSON, err)
	}
	var fields map[string]json.RawMessage
	if value[0] != '{' || json.Unmarshal(value, &fields) != nil {
		return m, a, nil // not an object: nothing applied, still OK
	}
	var err error
	if _, ok := fields["access_token"]; ok {
		if m.AccessToken, err = stringField(fields, "access_token"); err != nil {
			return Message{}, applied{}, err
		}
		a.AccessToken = true
	}
	if _, ok := fields["refresh_token"]; ok {
		if m.RefreshToken, err = stringField(fields, "refresh_token"); err != nil {
			return Message{}, applied{}, err
		}
		a.RefreshToken = true
	}
	if _, ok := fields["expires_at"]; ok {
		if m.ExpiresAt, err = intField(fields, "expires_at", true); err != nil {
			return Message{}, applied{}, err
		}
		a.ExpiresAt = true
	}
	return m, a, nil
}

// Parse parses data as mode says; an empty mode is ParseStrict.
func (mode ParseMode) Parse(data []byte) (Message, error) {
	if mode == ParseLenient {
		return ParseMessageLenient(data)
	}
	return ParseMessage(data)
}

func parseMessage(data []byte, lenient bool) (Message, error) {
	// encoding/json would replace invalid UTF-8 silently; the C++ parser
	// rejects it.
	if !utf8.Valid(data) {
		return Message{}, fmt.Errorf("%w: invalid UTF-8", ErrNotJSON)
	}
	var value json.RawMessage
	if err := json.Unmarshal(data, &value); err != nil {
		// The syntax error names at most one character, never a token.
		return Message{}, fmt.Errorf("%w: %v", ErrNotJSON, err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil || fields == nil {
		return Message{}, errors.New("not a JSON object")
	}
	var m Message
	var err error
	if m.AccessToken, err = stringField(fields, "access_token"); err != nil {
		return Message{}, err
	}
	if m.RefreshToken, err = stringField(fields, "refresh_token"); err != nil {
		return Message{}, err
	}
	if m.ExpiresAt, err = intField(fields, "expires_at", lenient); err != nil {
		return Message{}, err
	}
	return m, nil
}

func stringField(fields map[string]json.RawMessage, name string) (string, error) {
	raw, ok := fields[name]
	if !ok {
		return "", &FieldError{name, "missing"}
	}
	if raw[0] != '"' {
		return "", &FieldError{name, "not a string: " + jsonKind(raw)}
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", &FieldError{name, err.Error()}
	}
	return s, nil
}

func intField(fields map[string]json.RawMessage, name string, lenient bool) (int64, error) {
	raw, ok := fields[name]
	if !ok {
		return 0, &FieldError{name, "missing"}
	}
	if kind := jsonKind(raw); kind != "number" {
		return 0, &FieldError{name, "not an integer: " + kind}
	}
	if bytes.ContainsAny(raw, ".eE") {
		if !lenient {
			return 0, &FieldError{name, "not an integer: " + string(raw)}
		}
		f, _ := strconv.ParseFloat(string(raw), 64) // ±Inf past float64: clamped below
		f = math.Trunc(f)
		// -2^63 is an int64; 2^63 is not.
		switch {
		case f >= math.MaxInt64:
			return math.MaxInt64, nil // a garbage expiry, as the bot's
		case f < math.MinInt64:
			return math.MinInt64, nil
		}
		return int64(f), nil
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil && !lenient {
		return 0, &FieldError{name, "integer out of range: " + string(raw)}
	}
	return n, nil // lenient: ParseInt clamps to the nearest int64
}

// jsonKind names the type of a valid JSON value.
func jsonKind(raw json.RawMessage) string {
	switch raw[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}
