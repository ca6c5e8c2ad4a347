package refresh

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// object is a JSON object kept as its keys in file order with their raw
// values, so that a rewrite changes only the fields we set and keeps every
// field we do not know, byte for byte (re-indented), in its place.
type object []field

type field struct {
	key string
	raw json.RawMessage
}

func parseObject(data []byte) (object, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("want a JSON object, found %s", describe(tok))
	}
	var o object
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key := tok.(string) // inside an object the decoder yields keys as strings
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		o.set(key, raw)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("unexpected data after the JSON object")
	}
	return o, nil
}

func describe(tok json.Token) string {
	switch tok.(type) {
	case json.Delim:
		return "an array"
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", tok)
}

// get returns the raw value of key; the last one wins, as in encoding/json.
func (o object) get(key string) (json.RawMessage, bool) {
	for i := len(o) - 1; i >= 0; i-- {
		if o[i].key == key {
			return o[i].raw, true
		}
	}
	return nil, false
}

// set replaces the value of key in place, or appends it.
func (o *object) set(key string, raw json.RawMessage) {
	for i := range *o {
		if (*o)[i].key == key {
			(*o)[i].raw = raw
			return
		}
	}
	*o = append(*o, field{key, raw})
}

// setValue marshals v and sets it. Only our own scalar values come here, so
// Marshal cannot fail.
func (o *object) setValue(key string, v any) {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("marshal %s: %v", key, err))
	}
	o.set(key, raw)
}

// appendIndent writes o as JSON indented like Python's json.dump(indent=4).
func (o object) appendIndent(buf *bytes.Buffer, prefix string) {
	const indent = "    "
	if len(o) == 0 {
		buf.WriteString("{}")
		return
	}
	buf.WriteString("{\n")
	for i, f := range o {
		buf.WriteString(prefix + indent)
		key, _ := json.Marshal(f.key)
		buf.Write(key)
		buf.WriteString(": ")
		if err := json.Indent(buf, f.raw, prefix+indent, indent); err != nil {
			// Values come from the decoder or json.Marshal: always valid.
			panic(fmt.Sprintf("indent %s: %v", f.key, err))
		}
		if i < len(o)-1 {
			buf.WriteByte(',')
		}
		buf.WriteByte('\n')
	}
	buf.WriteString(prefix + "}")
}
