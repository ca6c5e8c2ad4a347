package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/oauth"
)

// DefaultExpiresIn is Schwab's access-token lifetime, assumed when a token
// file does not say.
const DefaultExpiresIn = 1800

// TokenFile is a schwab-py token file: known fields parsed, every other
// field kept as it was.
type TokenFile struct {
	// CreationTimestamp is the Unix time of the browser login that produced
	// the refresh token; zero when the file has none.
	CreationTimestamp int64
	Token             Token

	top, tok object
}

// Token holds the fields of the "token" object that refresh-token uses.
type Token struct {
	AccessToken  string
	RefreshToken string
	IDToken      string
	TokenType    string
	Scope        string
	ExpiresIn    int64 // seconds; 0 when absent
	ExpiresAt    int64 // Unix seconds; 0 when absent
}

// maxUnix bounds the Unix times taken from a token file, about 35,000
// years either side of 1970: time.Unix and the arithmetic on it overflow
// near the ends of int64.
const maxUnix = 1 << 40

func clampUnix(s int64) int64 { return min(max(s, -maxUnix), maxUnix) }

// Created returns the time of the browser login that produced the refresh
// token, from creation_timestamp (clamped to what time.Time holds); zero
// CreationTimestamp means unknown.
func (f *TokenFile) Created() time.Time { return time.Unix(clampUnix(f.CreationTimestamp), 0) }

// Expiry returns when the access token expires.
func (t Token) Expiry() time.Time { return time.Unix(clampUnix(t.ExpiresAt), 0) }

// Issued returns when the access token was issued: expires_at - expires_in,
// counting Schwab's 1800 s when the file has no expires_in.
func (t Token) Issued() time.Time {
	in := t.ExpiresIn
	if in <= 0 {
		in = DefaultExpiresIn
	}
	return time.Unix(clampUnix(t.ExpiresAt)-min(in, maxUnix), 0)
}

// ParseTokenFile parses a schwab-py token file. Its errors carry exit.Data.
func ParseTokenFile(data []byte) (*TokenFile, error) {
	bad := func(format string, args ...any) error {
		return exit.Fail(exit.Data, "restore the token file from a backup or run 'refresh-token login' to write a new one",
			"token file: "+format, args...)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, bad("empty")
	}
	if bytes.HasPrefix(data, sqliteMagic) {
		return nil, errSchwabdev()
	}
	if i := checkDepth(data); i >= 0 {
		return nil, bad("nested more than %d levels deep at byte %d; a schwab-py token file nests 2", maxDepth, i+1)
	}
	top, err := parseObject(data)
	if err != nil {
		return nil, bad("not valid JSON: %s", jsonProblem(data, err))
	}
	f := &TokenFile{top: top}
	rawTok, ok := top.get("token")
	if !ok {
		if _, flat := top.get("refresh_token"); flat {
			return nil, exit.Fail(exit.Data,
				`this is the flat file the first-login helper writes (ISO-8601 expires_at); point --token-file at the schwab-py file {"creation_timestamp": ..., "token": {...}} or run 'refresh-token login' to write one`,
				"token file: no \"token\" object, found tokens at the top level")
		}
		return nil, bad("no \"token\" object")
	}
	if string(rawTok) == "null" {
		return nil, bad("\"token\" is null")
	}
	if f.tok, err = parseObject(rawTok); err != nil {
		return nil, bad("\"token\": %v", err)
	}
	if raw, ok := top.get("creation_timestamp"); ok {
		if f.CreationTimestamp, err = intField(raw); err != nil {
			return nil, bad("creation_timestamp: %v", err)
		}
	}
	t := &f.Token
	for _, s := range []struct {
		key string
		dst *string
	}{
		{"access_token", &t.AccessToken},
		{"refresh_token", &t.RefreshToken},
		{"id_token", &t.IDToken},
		{"token_type", &t.TokenType},
		{"scope", &t.Scope},
	} {
		if raw, ok := f.tok.get(s.key); ok {
			if err := json.Unmarshal(raw, s.dst); err != nil || raw[0] != '"' {
				return nil, bad("token.%s is not a string", s.key)
			}
		}
	}
	for _, n := range []struct {
		key string
		dst *int64
	}{
		{"expires_in", &t.ExpiresIn},
		{"expires_at", &t.ExpiresAt},
	} {
		if raw, ok := f.tok.get(n.key); ok {
			if *n.dst, err = intField(raw); err != nil {
				return nil, bad("token.%s: %v", n.key, err)
			}
		}
	}
	if t.RefreshToken == "" {
		return nil, bad("no refresh_token")
	}
	return f, nil
}

// intField reads a JSON number as whole seconds. A fraction is dropped
// (Python writers may produce floats); anything but a number is an error.
func intField(raw json.RawMessage) (int64, error) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil || raw[0] == '"' {
		return 0, errors.New("not a number")
	}
	if i, err := n.Int64(); err == nil {
		return i, nil
	}
	v, err := n.Float64()
	// float64(math.MaxInt64) rounds up to 2^63, which int64 cannot hold.
	if err != nil || math.IsNaN(v) || v >= math.MaxInt64 || v < math.MinInt64 {
		return 0, fmt.Errorf("number %s out of range", n)
	}
	return int64(v), nil
}

// Apply folds a token response into the file as of now: the access token,
// id_token, expires_in, token_type and scope from the response; the refresh
// token only if the response carries one; creation_timestamp kept unless the
// refresh token changed (a new one starts a new 7-day clock). Every other
// field of the response (refresh_token_expires_in, ...) is kept as well.
func (f *TokenFile) Apply(r *oauth.Response, now time.Time) {
	for _, x := range r.Extra {
		f.tok.set(x.Name, x.Value)
	}
	t := &f.Token
	t.AccessToken = r.AccessToken
	f.tok.setValue("access_token", r.AccessToken)
	if r.IDToken != "" {
		t.IDToken = r.IDToken
		f.tok.setValue("id_token", r.IDToken)
	}
	if r.TokenType != "" {
		t.TokenType = r.TokenType
		f.tok.setValue("token_type", r.TokenType)
	}
	if r.Scope != "" {
		t.Scope = r.Scope
		f.tok.setValue("scope", r.Scope)
	}
	t.ExpiresIn = r.ExpiresIn
	f.tok.setValue("expires_in", r.ExpiresIn)
	t.ExpiresAt = now.Unix() + r.ExpiresIn
	f.tok.setValue("expires_at", t.ExpiresAt)
	if r.RefreshToken != "" && r.RefreshToken != t.RefreshToken {
		t.RefreshToken = r.RefreshToken
		f.tok.setValue("refresh_token", r.RefreshToken)
		f.CreationTimestamp = now.Unix()
		f.top.setValue("creation_timestamp", f.CreationTimestamp)
	}
}

// Marshal returns the file as 4-space indented JSON with a final newline,
// the layout of the bot's original Python sender (json.dump, indent=4).
// schwab-py 1.5.1 writes the file compact, on one line; both read either.
func (f *TokenFile) Marshal() []byte {
	var tok bytes.Buffer
	f.tok.appendIndent(&tok, "")
	f.top.set("token", tok.Bytes())
	var buf bytes.Buffer
	f.top.appendIndent(&buf, "")
	buf.WriteByte('\n')
	return buf.Bytes()
}

// NewTokenFile is the file a login writes: the login's time as
// creation_timestamp, and every field of the response with expires_at.
func NewTokenFile(r *oauth.Response, now time.Time) *TokenFile {
	f := &TokenFile{}
	// The known fields first, in the order of Schwab's answer; Apply then
	// fills them in place and adds the rest, expires_at and
	// creation_timestamp (the refresh token is new).
	for _, k := range []struct {
		name string
		set  bool
	}{
		{"expires_in", true},
		{"token_type", r.TokenType != ""},
		{"scope", r.Scope != ""},
		{"refresh_token", true},
		{"access_token", true},
		{"id_token", r.IDToken != ""},
	} {
		if k.set {
			f.tok.set(k.name, []byte(`""`))
		}
	}
	f.Apply(r, now)
	return f
}
