// Package oauth speaks Schwab's OAuth protocol: both grants, their answers, retries, the authorize URL and the login's callback.
package oauth

// The token endpoint: the form post, the answer's classification into a
// token, a rejection or a temporary failure, and the one retry layer, for
// both grants (client.go, oauth.go, response.go); for the browser login,
// the authorization URL and the local HTTPS callback (authorize.go,
// callback.go).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/refresh-token/refresh-token/internal/exit"
)

// DefaultTokenURL is Schwab's token endpoint.
const DefaultTokenURL = "https://api.schwabapi.com/v1/oauth/token"

// maxBody bounds what we read of a response: a token answer is a few KB.
const maxBody = 1 << 20

// maxExpiresIn bounds a believable access-token lifetime (Schwab's is 1800
// s): beyond it the answer is broken, and now + expires_in may overflow. It
// is the same day the guards believe of a token file.
const maxExpiresIn = int64(MaxLifetime / time.Second)

// MaxLifetime is the longest access-token lifetime believed: Schwab's is 30
// minutes.
const MaxLifetime = 24 * time.Hour

// LoginHint is what to do when only a new browser login can help.
const LoginHint = "run 'refresh-token login' to log in to Schwab again and get a new refresh token"

// Response is a successful answer of the token endpoint.
type Response struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope"`
	ExpiresIn    int64  `json:"expires_in"`
	// Extra holds every other field of the answer, in its order, so that
	// the token file keeps the whole response (refresh_token_expires_in,
	// ...) as schwab-py does. Nil when there is none.
	Extra []Field `json:"-"`
}

// RejectedError is Schwab refusing the grant: the refresh token or the app
// credentials. Retrying cannot help.
type RejectedError struct {
	Grant       string // GrantRefresh (also when empty) or GrantCode
	Status      int
	Code        string // the OAuth error code, the nested one where Schwab nests it
	Description string
	Login       bool // only a new browser login can fix it
}

func (e *RejectedError) Error() string {
	what := "the refresh"
	if e.Grant == GrantCode {
		what = "the login's authorization code"
	}
	msg := fmt.Sprintf("Schwab rejected %s (HTTP %d", what, e.Status)
	if e.Code != "" {
		msg += ", " + e.Code
	}
	msg += ")"
	if e.Description != "" {
		msg += ": " + e.Description
	}
	return msg
}

// ExitCode is 77: a new login or new credentials are needed.
func (e *RejectedError) ExitCode() int { return exit.NoPerm }

// HintText says what to do: log in again, or check the credentials.
func (e *RejectedError) HintText() string {
	if e.Grant == GrantCode {
		return codeHint
	}
	if e.Login && e.Code == "invalid_client" {
		// Schwab answers invalid_client both for a refresh token near its
		// 7-day end and for wrong app credentials.
		return LoginHint + "; if that does not help, check app_key and app_secret"
	}
	if e.Login {
		return LoginHint
	}
	return "check app_key and app_secret in the app config and the app's status in the Schwab developer portal"
}

// TemporaryError is a failure that a later attempt may not meet.
type TemporaryError struct {
	Status     int // 0 for network errors
	Reason     string
	RetryAfter time.Duration
	Err        error
	Hint       string // what to do, when more is known than "try later"
}

func (e *TemporaryError) Error() string {
	msg := e.Reason
	if e.Status != 0 {
		msg = fmt.Sprintf("HTTP %d: %s", e.Status, e.Reason)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *TemporaryError) Unwrap() error { return e.Err }

// ExitCode is 75 (EX_TEMPFAIL): a later run may succeed.
func (e *TemporaryError) ExitCode() int { return exit.TempFail }

// HintText says what to do; the next run usually succeeds.
func (e *TemporaryError) HintText() string {
	if e.Hint != "" {
		return e.Hint
	}
	return "temporary failure: the next run retries; check the network and Schwab's status if it persists"
}

// loginCodes name a dead refresh token or revoked app credentials.
var loginCodes = map[string]bool{
	"invalid_grant":                      true,
	"invalid_client":                     true,
	"unsupported_token_type":             true,
	"refresh_token_authentication_error": true,
}

// Classify turns one HTTP answer into a Response, a *RejectedError or a
// *TemporaryError. body is at most maxBody+1 bytes.
func Classify(status int, header http.Header, body []byte) (*Response, error) {
	if len(body) > maxBody {
		return nil, &TemporaryError{Status: status, Reason: "response body over 1 MiB"}
	}
	isJSON := json.Valid(body)
	switch {
	case status == http.StatusOK:
		if !isJSON {
			return nil, &TemporaryError{Status: status, Reason: "response is not JSON (" + sniff(body) + ")"}
		}
		var r Response
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, &TemporaryError{Status: status, Reason: "malformed token response", Err: err}
		}
		if r.AccessToken == "" || r.ExpiresIn <= 0 {
			return nil, &TemporaryError{Status: status, Reason: "token response lacks access_token or expires_in"}
		}
		if r.ExpiresIn > maxExpiresIn {
			return nil, &TemporaryError{Status: status, Reason: fmt.Sprintf("token response has an implausible expires_in %d (Schwab's is 1800)", r.ExpiresIn)}
		}
		if err := checkToken("access_token", r.AccessToken); err != nil {
			return nil, &TemporaryError{Status: status, Reason: "token response has " + err.Error()}
		}
		if err := checkToken("refresh_token", r.RefreshToken); err != nil {
			return nil, &TemporaryError{Status: status, Reason: "token response has " + err.Error()}
		}
		return &r, nil
	case status == http.StatusTooManyRequests, status == http.StatusRequestTimeout, status >= 500:
		return nil, &TemporaryError{Status: status, Reason: http.StatusText(status), RetryAfter: retryAfter(header)}
	case status >= 400 && status < 500 && isJSON:
		return nil, rejection(status, body)
	case status >= 400 && status < 500:
		// The CDN in front of Schwab answers with an HTML "Access Denied"
		// page that clears on its own.
		return nil, &TemporaryError{Status: status, Reason: "not a JSON error (" + sniff(body) + ")"}
	default:
		return nil, &TemporaryError{Status: status, Reason: "unexpected status"}
	}
}

// MaxToken bounds the access and the refresh token, in bytes once
// JSON-encoded (each '"' and '\' takes two). Both go to the bot in one
// message that its receiver reads with a single recv into 4096 bytes, so
// at most 4095: {"access_token":"","refresh_token":"","expires_at":} is 52
// bytes, an int64 at most 20 more, and 52 + 20 + 2*2000 = 4072 leaves room.
// Schwab's tokens are a few hundred bytes.
const MaxToken = 2000

// checkToken accepts a token the bot and the token file can carry as it
// is: visible ASCII ('!' to '~'; Schwab's hold '@' and '.') of at most
// MaxToken bytes encoded. The error describes the token without quoting
// it. An empty token passes: whether one is required is the caller's
// business.
func checkToken(name, tok string) error {
	encoded := len(tok)
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c < '!' || c > '~' {
			return fmt.Errorf("an unusable %s: byte %d of %d is 0x%02x, not visible ASCII", name, i+1, len(tok), c)
		}
		if c == '"' || c == '\\' {
			encoded++
		}
	}
	if encoded > MaxToken {
		return fmt.Errorf("an unusable %s: %d bytes encoded, over the %d that fit the bot's message", name, encoded, MaxToken)
	}
	return nil
}

// rejection decodes an OAuth error body. Schwab nests the real error as JSON
// text inside error_description, e.g.
// {"error":"unsupported_token_type","error_description":"400 Bad Request: \"{\"error_description\":\"...\",\"error\":\"refresh_token_authentication_error\"}\""}
func rejection(status int, body []byte) *RejectedError {
	var outer struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(body, &outer) // valid JSON; a non-object leaves both empty
	e := &RejectedError{Status: status, Code: outer.Error, Description: outer.Description}
	if i, j := strings.IndexByte(outer.Description, '{'), strings.LastIndexByte(outer.Description, '}'); i >= 0 && j > i {
		var inner struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal([]byte(outer.Description[i:j+1]), &inner) == nil && inner.Error != "" {
			e.Code, e.Description = inner.Error, inner.Description
			e.Login = loginCodes[outer.Error]
		}
	}
	e.Login = e.Login || loginCodes[e.Code]
	if e.Code == "" && e.Description == "" {
		e.Description = string(body)
	}
	// Quoted in a log line: one line, printable, bounded.
	e.Code, e.Description = printable(e.Code, 80), printable(e.Description, 300)
	return e
}

// sniff names what a non-JSON body looks like, without echoing it whole.
func sniff(body []byte) string {
	b := bytes.TrimSpace(body)
	switch {
	case len(b) == 0:
		return "empty body"
	case bytes.HasPrefix(b, []byte("<")):
		if i := bytes.Index(asciiLower(b), []byte("<title>")); i >= 0 {
			t := b[i+len("<title>"):]
			if j := bytes.IndexByte(t, '<'); j >= 0 && len(bytes.TrimSpace(t[:j])) > 0 {
				// One line: a title may be spread over several.
				return "HTML page: " + printable(string(t[:j]), 80)
			}
		}
		return "HTML page"
	}
	return fmt.Sprintf("%d bytes of text", len(b))
}

// asciiLower lower-cases A-Z only, so that an index into the result is an
// index into b (bytes.ToLower turns each invalid UTF-8 byte into three).
func asciiLower(b []byte) []byte {
	l := make([]byte, len(b))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		l[i] = c
	}
	return l
}

// printable makes text from a response fit for a log line: white space
// folded, control characters and invalid UTF-8 replaced, at most n bytes.
func printable(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	s = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

func retryAfter(h http.Header) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t)
	}
	return 0
}
