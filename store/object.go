package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
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
	at := map[string]int{} // key -> index in o: linear in the number of keys
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
		// A key given again keeps its first place and takes the last
		// value, as set does.
		if i, ok := at[key]; ok {
			o[i].raw = raw
			continue
		}
		at[key] = len(o)
		o = append(o, field{key, raw})
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errTrailing
	}
	return o, nil
}

var errTrailing = errors.New("unexpected data after the JSON object")

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
// marshalling cannot fail.
func (o *object) setValue(key string, v any) {
	raw, err := marshal(v)
	if err != nil {
		panic(fmt.Sprintf("marshal %s: %v", key, err))
	}
	o.set(key, raw)
}

// marshal is json.Marshal without its HTML escaping: json.Marshal writes
// '<', '>' and '&' as \u003c, \u003e and \u0026, six bytes for one, so a
// file of such characters read under the size cap would be written far
// past it. Python's json.dump does not escape them either.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// maxDepth bounds the nesting of a token file: schwab-py's nests 2 deep.
// Each level re-indents what it holds, so a value nested thousands deep
// (36 MB for 3,000 levels from a 6 kB file) would be written far past the
// size cap that the next run reads, and indenting a 1 MiB file at this
// depth still takes a few tens of MB.
const maxDepth = 32

// checkDepth returns the byte offset at which data nests deeper than
// maxDepth, or -1. Brackets inside strings do not count.
func checkDepth(data []byte) int {
	depth, inString, escaped := 0, false, false
	for i, c := range data {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			if depth++; depth > maxDepth {
				return i
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return -1
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
		key, _ := marshal(f.key)
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

// appendCompact writes o as compact JSON, as schwab-py's json.dump without
// indent does.
func (o object) appendCompact(buf *bytes.Buffer) {
	buf.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		key, _ := marshal(f.key)
		buf.Write(key)
		buf.WriteByte(':')
		if err := json.Compact(buf, f.raw); err != nil {
			panic(fmt.Sprintf("compact %s: %v", f.key, err))
		}
	}
	buf.WriteByte('}')
}

// jsonProblem says what is wrong with data in a reader's terms: which byte,
// at which line and column (counted from 1, as editors do), instead of
// encoding/json's "invalid character 'h' in literal true".
func jsonProblem(data []byte, err error) string {
	// The streaming decoder's offsets point near the problem; a whole-input
	// check points at it.
	what := "unexpected %s"
	if errors.Is(err, errTrailing) {
		what = errTrailing.Error() + ": %s"
	}
	var raw json.RawMessage
	if verr := json.Unmarshal(data, &raw); verr != nil {
		err = verr
	}
	var se *json.SyntaxError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, &se) && strings.Contains(se.Error(), "unexpected end"):
		return fmt.Sprintf("ends after %d bytes, before the JSON is complete (cut short?)", len(data))
	case se != nil && se.Offset > 0 && int(se.Offset) <= len(data):
		i := int(se.Offset) - 1
		if i == 0 && bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
			return "starts with a UTF-8 byte order mark, which JSON does not allow"
		}
		line := 1 + bytes.Count(data[:i], []byte("\n"))
		col := i - bytes.LastIndexByte(data[:i], '\n')
		c := fmt.Sprintf("byte 0x%02x", data[i])
		if data[i] > ' ' && data[i] < 0x7f {
			c = fmt.Sprintf("%q", rune(data[i]))
		}
		return fmt.Sprintf(what+" at byte %d (line %d, column %d)", c, i+1, line, col)
	}
	return err.Error()
}
