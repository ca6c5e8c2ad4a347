package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/refresh-token/refresh-token/deliver"
	"github.com/refresh-token/refresh-token/internal/exit"
)

// schwabAT looks like Schwab's access tokens: base64 pieces, dots, an '@'.
const schwabAT = "I0.b2F1dGgyLmNkYy5zY2h3YWIuY29t.kT3x-_Zq9+/w=@"

// Every grant's answer goes through Classify: a token the bot or the token
// file cannot carry as it is, is a bad answer (75), never a token.
func TestClassifyChecksTokens(t *testing.T) {
	tests := []struct {
		name   string
		at, rt string
		msg    string // "": accepted
	}{
		{name: "schwab-like", at: schwabAT, rt: "RT." + schwabAT},
		{name: "every visible ASCII byte", at: visibleASCII(), rt: "RT"},
		{name: "no refresh_token", at: schwabAT, rt: ""},
		{name: "exactly MaxToken", at: strings.Repeat("a", MaxToken), rt: strings.Repeat("r", MaxToken)},
		{name: "MaxToken encoded, quotes", at: strings.Repeat(`"`, MaxToken/2), rt: strings.Repeat(`\`, MaxToken/2)},
		{name: "one byte over", at: strings.Repeat("a", MaxToken+1), msg: "access_token: 2001 bytes encoded, over the 2000"},
		{name: "10 kB", at: strings.Repeat("a", 10240), msg: "access_token: 10240 bytes encoded"},
		{name: "quotes over when encoded", at: strings.Repeat(`"`, MaxToken/2+1), msg: "access_token: 2002 bytes encoded"},
		{name: "refresh_token over", at: "AT", rt: strings.Repeat("r", MaxToken+1), msg: "unusable refresh_token: 2001 bytes"},
		{name: "space", at: "AT AT", msg: "unusable access_token: byte 3 of 5 is 0x20, not visible ASCII"},
		{name: "CR", at: "AT\r", msg: "byte 3 of 3 is 0x0d"},
		{name: "LF", at: "\nAT", msg: "byte 1 of 3 is 0x0a"},
		{name: "CRLF header injection", at: "AT\r\nX-Evil: 1", msg: "is 0x0d"},
		{name: "NUL", at: "A\x00T", msg: "is 0x00"},
		{name: "ESC", at: "AT\x1b[2J", msg: "is 0x1b"},
		{name: "DEL", at: "AT\x7f", msg: "is 0x7f"},
		{name: "tab", at: "A\tT", msg: "is 0x09"},
		{name: "non-ASCII", at: "ATé", msg: "byte 3 of 4 is 0xc3"},
		{name: "refresh_token with LF", at: "AT", rt: "RT\n", msg: "unusable refresh_token: byte 3 of 3 is 0x0a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := json.Marshal(map[string]any{"access_token": tt.at, "refresh_token": tt.rt, "expires_in": 1800, "token_type": "Bearer"})
			if err != nil {
				t.Fatal(err)
			}
			r, err := Classify(200, nil, body)
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if r.AccessToken != tt.at || r.RefreshToken != tt.rt {
					t.Errorf("tokens changed: %q %q", r.AccessToken, r.RefreshToken)
				}
				return
			}
			if r != nil || exit.Code(err) != exit.TempFail {
				t.Fatalf("got %+v, %v; want a temporary failure (75)", r, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q lacks %q", err, tt.msg)
			}
			// The error describes the token; it never quotes it.
			if len(tt.at) > 4 && strings.Contains(err.Error(), tt.at) {
				t.Errorf("error quotes the token: %q", err)
			}
		})
	}
}

func visibleASCII() string {
	var b strings.Builder
	for c := byte('!'); c <= '~'; c++ {
		b.WriteByte(c)
	}
	return b.String()
}

// MaxToken is chosen so that any two accepted tokens fit the bot's one
// 4095-byte read, with the widest expires_at.
func TestMaxTokenFitsTheBotsMessage(t *testing.T) {
	for _, tok := range []string{strings.Repeat("a", MaxToken), strings.Repeat(`"`, MaxToken/2), strings.Repeat(`\`, MaxToken/2)} {
		if checkToken("t", tok) != nil {
			t.Fatalf("a token of %d bytes encoded is refused", MaxToken)
		}
		m := deliver.Message{AccessToken: tok, RefreshToken: tok, ExpiresAt: math.MinInt64}
		b, err := m.Encode()
		if err != nil || len(b) > deliver.MaxMessage {
			t.Errorf("the largest accepted tokens make %d bytes (%v), over %d", len(b), err, deliver.MaxMessage)
		}
	}
}

// A token_type other than Bearer (in any case) is a warning, not a failure.
func TestTokenTypeWarns(t *testing.T) {
	for _, tt := range []struct {
		tokenType string
		warn      bool
	}{
		{"Bearer", false},
		{"bearer", false},
		{"BEARER", false},
		{"mac", true},
		{"", true},
		{"Bearer\x1b[31m", true},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			json.NewEncoder(w).Encode(map[string]any{"access_token": "AT", "expires_in": 1800, "token_type": tt.tokenType})
		}))
		var logs bytes.Buffer
		c := &Client{URL: srv.URL, HTTP: srv.Client(), Attempts: 1, Log: slog.New(slog.NewTextHandler(&logs, nil))}
		r, err := c.Refresh(context.Background(), "RT")
		srv.Close()
		if err != nil || r.AccessToken != "AT" {
			t.Errorf("token_type %q: %+v, %v; want the token", tt.tokenType, r, err)
		}
		warned := strings.Contains(logs.String(), "level=WARN") && strings.Contains(logs.String(), "not Bearer")
		if warned != tt.warn {
			t.Errorf("token_type %q: warned = %v, want %v\n%s", tt.tokenType, warned, tt.warn, logs.String())
		}
		if strings.Contains(logs.String(), "\x1b") {
			t.Errorf("token_type %q logged with its control characters: %q", tt.tokenType, logs.String())
		}
	}
}
