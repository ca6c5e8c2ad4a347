package oauth

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/harness"
	"github.com/refresh-token/refresh-token/internal/exit"
)

// The client against the fake endpoint, one mode at a time: every class of
// answer Schwab gives ends as the right exit code, after the right number
// of requests.
func TestClientAgainstFakeEndpoint(t *testing.T) {
	tests := []struct {
		mode     harness.Mode
		code     int // 0: success
		requests int
		newRT    bool // the response rotated the refresh token
	}{
		{harness.ModeOK, 0, 1, false},
		{harness.ModeNoRefresh, 0, 1, false},
		{harness.ModeRotate, 0, 1, true},
		{harness.ModeSlow, 0, 1, false},
		{harness.ModeInvalidGrant, exit.NoPerm, 1, false},
		{harness.ModeInvalidClient, exit.NoPerm, 1, false},
		{harness.ModeUnsupportedTokenType, exit.NoPerm, 1, false},
		{harness.ModeOther4xx, exit.NoPerm, 1, false},
		{harness.Mode500, exit.TempFail, 3, false},
		{harness.Mode502, exit.TempFail, 3, false},
		{harness.Mode503, exit.TempFail, 3, false},
		{harness.Mode429, exit.TempFail, 3, false},
		{harness.Mode408, exit.TempFail, 3, false},
		{harness.ModeHTML, exit.TempFail, 3, false},
		{harness.ModeHTML200, exit.TempFail, 3, false},
		{harness.ModeMalformed, exit.TempFail, 3, false},
		{harness.ModeMissing, exit.TempFail, 3, false},
		{harness.ModeOversized, exit.TempFail, 3, false},
		{harness.ModeDown, exit.TempFail, 3, false},
		{harness.ModeHang, exit.TempFail, 3, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			t.Parallel()
			fake := harness.NewSchwab(harness.SchwabConfig{
				AppKey: "K", AppSecret: "S", RefreshToken: "RT", ExpiresIn: 1800,
				Modes: []harness.Mode{tt.mode}, Delay: 50 * time.Millisecond,
			})
			srv := httptest.NewServer(fake)
			defer srv.Close()
			defer fake.Close()
			c := &Client{
				URL: srv.URL + harness.TokenPath, App: App{"K", "S"},
				HTTP: NewHTTPClient(300 * time.Millisecond), Log: discard(),
				Backoff: time.Millisecond, MaxWait: 10 * time.Millisecond,
			}
			r, err := c.Refresh(context.Background(), "RT")
			if code := exit.Code(err); code != tt.code {
				t.Fatalf("exit = %d, want %d (%v)", code, tt.code, err)
			}
			if got := fake.Requests(); got != tt.requests {
				t.Errorf("requests = %d, want %d", got, tt.requests)
			}
			if err != nil {
				var rej *RejectedError
				if errors.As(err, &rej) && !rej.Login && tt.mode != harness.ModeOther4xx {
					t.Errorf("%s does not ask for a new login", tt.mode)
				}
				return
			}
			if r.AccessToken == "" || r.ExpiresIn != 1800 {
				t.Errorf("response %+v", r)
			}
			if rotated := r.RefreshToken != "" && r.RefreshToken != "RT"; rotated != tt.newRT {
				t.Errorf("refresh token rotated = %v, want %v", rotated, tt.newRT)
			}
		})
	}
}

// The wrong app credentials or refresh token are rejections, never retried.
func TestFakeEndpointChecksCredentials(t *testing.T) {
	fake := harness.NewSchwab(harness.SchwabConfig{AppKey: "K", AppSecret: "S", RefreshToken: "RT", ExpiresIn: 1800})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	for _, tt := range []struct {
		app App
		rt  string
	}{
		{App{"K", "wrong"}, "RT"},
		{App{"K", "S"}, "stale"},
	} {
		c := &Client{URL: srv.URL + harness.TokenPath, App: tt.app, HTTP: srv.Client(), Log: discard(), Backoff: time.Millisecond}
		if _, err := c.Refresh(context.Background(), tt.rt); exit.Code(err) != exit.NoPerm || !strings.HasPrefix(exit.Hint(err), LoginHint) {
			t.Errorf("%+v %s: exit %d hint %q (%v)", tt.app, tt.rt, exit.Code(err), exit.Hint(err), err)
		}
	}
	if fake.Requests() != 2 {
		t.Errorf("requests = %d, want 2", fake.Requests())
	}
}
