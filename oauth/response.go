package oauth

import (
	"bytes"
	"encoding/json"
)

// The grants refresh-token posts.
const (
	GrantRefresh = "refresh_token"
	GrantCode    = "authorization_code"
)

// maxExtra bounds the answer whose extra fields are kept: Schwab's is a few
// hundred bytes, and the token file that keeps them is refused past 1 MiB.
const maxExtra = 64 << 10

// Field is one field of a token answer, its value as the answer wrote it.
type Field struct {
	Name  string
	Value json.RawMessage
}

// known are the fields Response has names for.
var known = map[string]bool{
	"access_token": true, "refresh_token": true, "id_token": true,
	"token_type": true, "scope": true, "expires_in": true,
}

// UnmarshalJSON reads the known fields and keeps every other one in Extra,
// in the answer's order; a field given twice keeps its last value, as
// encoding/json does.
func (r *Response) UnmarshalJSON(data []byte) error {
	type plain Response // without this method
	var p plain
	if err := json.Unmarshal(data, &p); err != nil {
		return err
	}
	*r = Response(p)
	r.Extra = nil
	if len(data) > maxExtra || !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // the opening brace
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := tok.(string) // inside an object the decoder yields keys as strings
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		if known[name] {
			continue
		}
		r.setExtra(name, raw)
	}
	return nil
}

func (r *Response) setExtra(name string, raw json.RawMessage) {
	for i := range r.Extra {
		if r.Extra[i].Name == name {
			r.Extra[i].Value = raw
			return
		}
	}
	r.Extra = append(r.Extra, Field{Name: name, Value: raw})
}
