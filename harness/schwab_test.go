package harness

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	testKey    = "appkey123"
	testSecret = "s3cr:t+/="
	testRT     = "RT-original"
)

func startSchwab(t *testing.T, modes ...Mode) (*Schwab, string) {
	t.Helper()
	s := NewSchwab(SchwabConfig{
		AppKey: testKey, AppSecret: testSecret, RefreshToken: testRT,
		Modes: modes, Delay: 50 * time.Millisecond,
	})
	srv := httptest.NewServer(s.Handler())
	// Cleanups run last-in first-out: release held requests, then close.
	t.Cleanup(srv.Close)
	t.Cleanup(s.Close)
	return s, srv.URL
}

// request is a token request as refresh-token sends it; the fields let a
// test spoil one part.
type request struct {
	method      string
	auth        string
	contentType string
	form        url.Values
}

func goodRequest() request {
	return request{
		method:      http.MethodPost,
		auth:        basic(url.QueryEscape(testKey), url.QueryEscape(testSecret)),
		contentType: "application/x-www-form-urlencoded",
		form:        url.Values{"grant_type": {"refresh_token"}, "refresh_token": {testRT}},
	}
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

type response struct {
	status      int
	contentType string
	retryAfter  string
	body        string
}

func (rq request) do(ctx context.Context, base string) (response, error) {
	req, err := http.NewRequestWithContext(ctx, rq.method, base+TokenPath, strings.NewReader(rq.form.Encode()))
	if err != nil {
		return response{}, err
	}
	if rq.auth != "" {
		req.Header.Set("Authorization", rq.auth)
	}
	if rq.contentType != "" {
		req.Header.Set("Content-Type", rq.contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Retry-After"), string(body)}, err
}

func mustDo(t *testing.T, rq request, base string) response {
	t.Helper()
	resp, err := rq.do(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func decodeObject(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%.200s", err, body)
	}
	return m
}

// nestedReason digs Schwab's real error code out of error_description.
func nestedReason(t *testing.T, description string) string {
	t.Helper()
	inner, ok := strings.CutPrefix(description, `400 Bad Request: "`)
	inner, ok2 := strings.CutSuffix(inner, `"`)
	if !ok || !ok2 {
		t.Fatalf("error_description %q lacks the nested shape", description)
	}
	return decodeObject(t, inner)["error"].(string)
}

func TestSchwabModes(t *testing.T) {
	tests := []struct {
		mode   Mode
		status int
		ctype  string
		// check looks at the body beyond status and content type.
		check func(t *testing.T, r response)
	}{
		{ModeOK, 200, "application/json", func(t *testing.T, r response) {
			m := decodeObject(t, r.body)
			if !strings.HasPrefix(m["access_token"].(string), "AT-") || m["refresh_token"] != testRT ||
				m["expires_in"] != 1800.0 || m["token_type"] != "Bearer" || m["scope"] != "api" || m["id_token"] == "" {
				t.Errorf("token response %v", m)
			}
		}},
		{ModeInvalidGrant, 400, "application/json", errorCode("invalid_grant")},
		{ModeInvalidClient, 401, "application/json", errorCode("invalid_client")},
		{ModeUnsupportedTokenType, 400, "application/json", func(t *testing.T, r response) {
			m := decodeObject(t, r.body)
			if m["error"] != "unsupported_token_type" {
				t.Errorf("error = %v", m["error"])
			}
			if got := nestedReason(t, m["error_description"].(string)); got != "refresh_token_authentication_error" {
				t.Errorf("nested error = %q", got)
			}
		}},
		{ModeOther4xx, 403, "application/json", errorCode("access_denied")},
		{Mode500, 500, "application/json", errorCode("server_error")},
		{Mode502, 502, "text/html", contains("502 Bad Gateway")},
		{Mode503, 503, "text/html", contains("503 Service")},
		{Mode429, 429, "application/json", func(t *testing.T, r response) {
			if r.retryAfter != "1" {
				t.Errorf("Retry-After = %q, want 1", r.retryAfter)
			}
		}},
		{Mode408, 408, "application/json", errorCode("request_timeout")},
		{ModeHTML, 403, "text/html", contains("<TITLE>Access Denied</TITLE>")},
		{ModeHTML200, 200, "text/html", contains("<TITLE>Access Denied</TITLE>")},
		{ModeSlow, 200, "application/json", hasField("access_token", true)},
		{ModeMalformed, 200, "application/json", func(t *testing.T, r response) {
			if json.Valid([]byte(r.body)) {
				t.Errorf("body is valid JSON: %s", r.body)
			}
		}},
		{ModeMissing, 200, "application/json", hasField("access_token", false)},
		{ModeOversized, 200, "application/json", func(t *testing.T, r response) {
			if len(r.body) <= MaxTokenBody {
				t.Errorf("body is %d bytes, want over %d", len(r.body), MaxTokenBody)
			}
		}},
		{ModeNoRefresh, 200, "application/json", hasField("refresh_token", false)},
		{ModeRotate, 200, "application/json", func(t *testing.T, r response) {
			if rt := decodeObject(t, r.body)["refresh_token"]; rt == testRT || rt == "" {
				t.Errorf("refresh_token = %v, want a new one", rt)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			s, base := startSchwab(t, tt.mode)
			start := time.Now()
			r := mustDo(t, goodRequest(), base)
			if r.status != tt.status || r.contentType != tt.ctype {
				t.Errorf("status %d %q, want %d %q\n%.300s", r.status, r.contentType, tt.status, tt.ctype, r.body)
			}
			tt.check(t, r)
			if s.Requests() != 1 {
				t.Errorf("Requests() = %d, want 1", s.Requests())
			}
			if tt.mode == ModeSlow && time.Since(start) < 50*time.Millisecond {
				t.Errorf("slow mode answered after %v, want at least the 50ms delay", time.Since(start))
			}
		})
	}
}

func errorCode(code string) func(*testing.T, response) {
	return func(t *testing.T, r response) {
		m := decodeObject(t, r.body)
		if m["error"] != code || m["error_description"] == "" {
			t.Errorf("error body %v, want error %q with a description", m, code)
		}
	}
}

func contains(s string) func(*testing.T, response) {
	return func(t *testing.T, r response) {
		if !strings.Contains(r.body, s) {
			t.Errorf("body lacks %q:\n%s", s, r.body)
		}
	}
}

func hasField(name string, want bool) func(*testing.T, response) {
	return func(t *testing.T, r response) {
		if _, ok := decodeObject(t, r.body)[name]; ok != want {
			t.Errorf("%s present = %v, want %v: %s", name, ok, want, r.body)
		}
	}
}

func TestSchwabAccessTokensDiffer(t *testing.T) {
	_, base := startSchwab(t)
	a := decodeObject(t, mustDo(t, goodRequest(), base).body)["access_token"]
	b := decodeObject(t, mustDo(t, goodRequest(), base).body)["access_token"]
	if a == b {
		t.Errorf("two refreshes returned the same access token %v", a)
	}
}

func TestSchwabChecks(t *testing.T) {
	tests := []struct {
		name   string
		spoil  func(*request)
		status int
		code   string
	}{
		{"GET", func(r *request) { r.method = http.MethodGet }, 405, "invalid_request"},
		{"no auth", func(r *request) { r.auth = "" }, 401, "invalid_client"},
		{"wrong key", func(r *request) { r.auth = basic("other", url.QueryEscape(testSecret)) }, 401, "invalid_client"},
		{"wrong secret", func(r *request) { r.auth = basic(testKey, "nope") }, 401, "invalid_client"},
		// Without URL-encoding the '+' in the secret decodes to a space.
		{"secret not URL-encoded", func(r *request) { r.auth = basic(testKey, testSecret) }, 401, "invalid_client"},
		{"bearer auth", func(r *request) { r.auth = "Bearer x" }, 401, "invalid_client"},
		{"JSON body", func(r *request) { r.contentType = "application/json" }, 400, "invalid_request"},
		{"no content type", func(r *request) { r.contentType = "" }, 400, "invalid_request"},
		{"wrong grant", func(r *request) { r.form.Set("grant_type", "password") }, 400, "unsupported_grant_type"},
		{"code grant without a code", func(r *request) { r.form.Set("grant_type", "authorization_code") }, 400, "invalid_grant"},
		{"no grant", func(r *request) { r.form.Del("grant_type") }, 400, "unsupported_grant_type"},
		{"wrong refresh token", func(r *request) { r.form.Set("refresh_token", "RT-other") }, 400, "unsupported_token_type"},
		{"no refresh token", func(r *request) { r.form.Del("refresh_token") }, 400, "unsupported_token_type"},
		{"charset is fine", func(r *request) { r.contentType += "; charset=utf-8" }, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, base := startSchwab(t)
			rq := goodRequest()
			tt.spoil(&rq)
			r := mustDo(t, rq, base)
			if r.status != tt.status {
				t.Errorf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if code, _ := decodeObject(t, r.body)["error"].(string); code != tt.code {
				t.Errorf("error %q, want %q", code, tt.code)
			}
		})
	}
}

func TestSchwabInfrastructureAnswersFirst(t *testing.T) {
	// The CDN answers before Schwab looks at the credentials.
	_, base := startSchwab(t, Mode503)
	rq := goodRequest()
	rq.auth = ""
	if r := mustDo(t, rq, base); r.status != 503 {
		t.Errorf("status %d, want 503", r.status)
	}
}

func TestSchwabSequence(t *testing.T) {
	s, base := startSchwab(t, FlakyThenOK...)
	var got []int
	for range 4 {
		got = append(got, mustDo(t, goodRequest(), base).status)
	}
	if diff := cmp.Diff([]int{503, 503, 200, 200}, got); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	s.SetModes(ModeInvalidGrant, ModeOK)
	got = nil
	for range 3 {
		got = append(got, mustDo(t, goodRequest(), base).status)
	}
	if diff := cmp.Diff([]int{400, 200, 200}, got); diff != "" {
		t.Errorf("after SetModes (-want +got):\n%s", diff)
	}
	if s.Requests() != 7 {
		t.Errorf("Requests() = %d, want 7", s.Requests())
	}
}

func TestSchwabRotate(t *testing.T) {
	s, base := startSchwab(t, ModeRotate, ModeOK)
	newRT := decodeObject(t, mustDo(t, goodRequest(), base).body)["refresh_token"].(string)
	if s.RefreshToken() != newRT {
		t.Fatalf("RefreshToken() = %q, want the rotated %q", s.RefreshToken(), newRT)
	}
	if r := mustDo(t, goodRequest(), base); r.status != 400 {
		t.Errorf("old refresh token: status %d, want 400", r.status)
	}
	rq := goodRequest()
	rq.form.Set("refresh_token", newRT)
	if r := mustDo(t, rq, base); r.status != 200 {
		t.Errorf("new refresh token: status %d, want 200", r.status)
	}
}

func TestSchwabNetworkFailures(t *testing.T) {
	t.Run("down", func(t *testing.T) {
		_, base := startSchwab(t, ModeDown)
		if r, err := goodRequest().do(context.Background(), base); err == nil {
			t.Errorf("got status %d, want a connection error", r.status)
		}
	})
	t.Run("hang", func(t *testing.T) {
		_, base := startSchwab(t, ModeHang)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if _, err := goodRequest().do(ctx, base); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want the client's deadline", err)
		}
	})
	t.Run("hang released by Close", func(t *testing.T) {
		s, base := startSchwab(t, ModeHang)
		done := make(chan error, 1)
		go func() {
			_, err := goodRequest().do(context.Background(), base)
			done <- err
		}()
		for s.Requests() == 0 {
			time.Sleep(time.Millisecond)
		}
		s.Close()
		select {
		case err := <-done:
			if err == nil {
				t.Error("a released hang answered; want the connection cut")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not release the hanging request")
		}
	})
}

func TestSchwabControl(t *testing.T) {
	s, base := startSchwab(t)
	post := func(body string) (int, string) {
		resp, err := http.Post(base+"/control/modes", "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post("flaky-then-ok,invalid_grant"); code != 200 || body != "503,503,ok,invalid_grant\n" {
		t.Errorf("POST modes: %d %q", code, body)
	}
	if code, _ := post("503,teapot"); code != 400 {
		t.Errorf("POST an unknown mode: %d, want 400", code)
	}
	if r := mustDo(t, goodRequest(), base); r.status != 503 {
		t.Errorf("first request after POST: %d, want 503", r.status)
	}
	resp, err := http.Get(base + "/control/requests")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "1\n" || s.Requests() != 1 {
		t.Errorf("GET requests = %q, Requests() = %d; want 1", b, s.Requests())
	}
}

func TestParseModes(t *testing.T) {
	tests := []struct {
		in      string
		want    []Mode
		wantErr bool
	}{
		{"ok", []Mode{ModeOK}, false},
		{"503, 429,ok", []Mode{Mode503, Mode429, ModeOK}, false},
		{"flaky-then-ok", FlakyThenOK, false},
		{"down,flaky-then-ok", []Mode{ModeDown, Mode503, Mode503, ModeOK}, false},
		{"", nil, true},
		{"ok,,ok", nil, true},
		{"OK", nil, true},
	}
	for _, tt := range tests {
		got, err := ParseModes(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseModes(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseModes(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
	for _, m := range AllModes {
		if got, err := ParseModes(string(m)); err != nil || len(got) != 1 || got[0] != m {
			t.Errorf("ParseModes(%q) = %v, %v", m, got, err)
		}
	}
}

func TestSetModesPanicsOnUnknownMode(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("SetModes accepted an unknown mode")
		}
	}()
	NewSchwab(SchwabConfig{}).SetModes("teapot")
}
