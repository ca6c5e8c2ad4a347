package harness

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// MaxMessage is the largest message the bot reads: one recv into a
// 4096-byte buffer that is then NUL-terminated.
const MaxMessage = 4095

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

// ParseMessage checks a message the way the bot's C++ receiver does:
// a JSON object whose access_token and refresh_token are strings and whose
// expires_at is an integer. A string or a number written with a fraction or
// an exponent (1.5, 1.0, 1e9) in expires_at is a type error, as it is for
// the JSON library of the C++ code, which keeps such numbers as floats.
// Unknown fields are ignored.
func ParseMessage(data []byte) (Message, error) {
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
	if m.ExpiresAt, err = intField(fields, "expires_at"); err != nil {
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

func intField(fields map[string]json.RawMessage, name string) (int64, error) {
	raw, ok := fields[name]
	if !ok {
		return 0, &FieldError{name, "missing"}
	}
	if kind := jsonKind(raw); kind != "number" {
		return 0, &FieldError{name, "not an integer: " + kind}
	}
	if bytes.ContainsAny(raw, ".eE") {
		return 0, &FieldError{name, "not an integer: " + string(raw)}
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, &FieldError{name, "integer out of range: " + string(raw)}
	}
	return n, nil
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
