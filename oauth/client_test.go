package oauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/refresh-token/refresh-token/internal/exit"
)

// fakePauses replaces jitter and pause for the test: jitter returns
// pick(n), pause records the wait and returns at once.
func fakePauses(t *testing.T, pick func(n time.Duration) time.Duration) (jitters, waits *[]time.Duration) {
	t.Helper()
	oldJitter, oldPause := jitter, pause
	t.Cleanup(func() { jitter, pause = oldJitter, oldPause })
	jitters, waits = new([]time.Duration), new([]time.Duration)
	jitter = func(n time.Duration) time.Duration {
		*jitters = append(*jitters, n)
		return pick(n)
	}
	pause = func(_ context.Context, d time.Duration) error {
		*waits = append(*waits, d)
		return nil
	}
	return jitters, waits
}

// answering serves status with header Retry-After (when not "") and counts
// the requests.
func answering(t *testing.T, status int, retryAfter string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(status)
		io.WriteString(w, `{"error":"busy"}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// The pause before attempt i+1 is half of Backoff<<(i-1) plus a jitter
// below Backoff<<(i-1), raised to Retry-After, capped at MaxWait.
func TestBackoffArithmetic(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name       string
		attempts   int
		backoff    time.Duration
		maxWait    time.Duration
		retryAfter string
		pick       func(time.Duration) time.Duration
		jitters    []time.Duration // the bounds jitter was asked for
		waits      []time.Duration
	}{
		{name: "no jitter", attempts: 4, backoff: 100 * ms, pick: none,
			jitters: []time.Duration{100 * ms, 200 * ms, 400 * ms}, waits: []time.Duration{50 * ms, 100 * ms, 200 * ms}},
		{name: "largest jitter", attempts: 4, backoff: 100 * ms, pick: largest,
			jitters: []time.Duration{100 * ms, 200 * ms, 400 * ms}, waits: []time.Duration{150*ms - 1, 300*ms - 1, 600*ms - 1}},
		{name: "defaults: 3 attempts from 1 s", pick: none,
			jitters: []time.Duration{time.Second, 2 * time.Second}, waits: []time.Duration{500 * ms, time.Second}},
		{name: "capped by MaxWait", attempts: 3, backoff: 20 * time.Second, maxWait: 25 * time.Second, pick: largest,
			jitters: []time.Duration{20 * time.Second, 40 * time.Second}, waits: []time.Duration{25 * time.Second, 25 * time.Second}},
		{name: "capped at 30 s by default", attempts: 2, backoff: 40 * time.Second, pick: largest,
			jitters: []time.Duration{40 * time.Second}, waits: []time.Duration{30 * time.Second}},
		{name: "Retry-After raises the wait", attempts: 3, backoff: ms, retryAfter: "7", pick: largest,
			jitters: []time.Duration{ms, 2 * ms}, waits: []time.Duration{7 * time.Second, 7 * time.Second}},
		{name: "Retry-After below the backoff", attempts: 2, backoff: 4 * time.Second, retryAfter: "1", pick: none,
			jitters: []time.Duration{4 * time.Second}, waits: []time.Duration{2 * time.Second}},
		{name: "Retry-After capped at 30 s", attempts: 2, backoff: ms, retryAfter: "120", pick: none,
			jitters: []time.Duration{ms}, waits: []time.Duration{30 * time.Second}},
		{name: "one attempt: no pause", attempts: 1, backoff: ms, pick: none},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jitters, waits := fakePauses(t, tt.pick)
			srv, n := answering(t, http.StatusTooManyRequests, tt.retryAfter)
			c := &Client{URL: srv.URL, HTTP: srv.Client(), Log: discard(), Attempts: tt.attempts, Backoff: tt.backoff, MaxWait: tt.maxWait}
			_, err := c.Refresh(context.Background(), "RT")
			if exit.Code(err) != exit.TempFail {
				t.Fatalf("err = %v, want 75", err)
			}
			if diff := cmp.Diff(tt.jitters, *jitters); diff != "" {
				t.Errorf("jitter bounds (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.waits, *waits); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
			if want := int32(len(tt.waits) + 1); n.Load() != want {
				t.Errorf("%d requests, want %d", n.Load(), want)
			}
			// The count of attempts is named when there were several.
			want := "HTTP 429: Too Many Requests"
			if len(tt.waits) > 0 {
				want = fmt.Sprintf("%d attempts failed, last: %s", len(tt.waits)+1, want)
			}
			if err.Error() != want {
				t.Errorf("err = %q, want %q", err, want)
			}
		})
	}
}

func none(time.Duration) time.Duration      { return 0 }
func largest(n time.Duration) time.Duration { return n - 1 }

// The real jitter stays below its bound; the real pause waits, and ends
// early when the context does.
func TestJitterAndPause(t *testing.T) {
	for range 1000 {
		if j := jitter(10); j < 0 || j >= 10 {
			t.Fatalf("jitter(10) = %d", j)
		}
	}
	if err := pause(context.Background(), time.Nanosecond); err != nil {
		t.Errorf("pause: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := pause(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("pause with a cancelled context = %v", err)
	}
}

// A run stopped (SIGTERM, the 5-minute budget) while it waits to retry is
// a temporary failure that says so.
func TestRefreshStoppedWhileWaiting(t *testing.T) {
	srv, n := answering(t, http.StatusServiceUnavailable, "")
	ctx, cancel := context.WithCancel(context.Background())
	oldPause := pause
	t.Cleanup(func() { pause = oldPause })
	pause = func(ctx context.Context, d time.Duration) error {
		cancel()
		return oldPause(ctx, d)
	}
	c := &Client{URL: srv.URL, HTTP: srv.Client(), Log: discard(), Backoff: time.Hour}
	_, err := c.Refresh(ctx, "RT")
	if exit.Code(err) != exit.TempFail || !strings.Contains(err.Error(), "gave up waiting to retry: context canceled") || n.Load() != 1 {
		t.Errorf("err = %v after %d requests, want 75 after 1", err, n.Load())
	}
}

// Retry-After in seconds or as an HTTP date; anything else is no wish.
func TestRetryAfter(t *testing.T) {
	for _, tt := range []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"soon", 0},
		{"1.5", 0},
	} {
		h := http.Header{}
		if tt.v != "" {
			h.Set("Retry-After", tt.v)
		}
		if got := retryAfter(h); got != tt.want {
			t.Errorf("Retry-After %q = %v, want %v", tt.v, got, tt.want)
		}
	}
	// An HTTP date an hour ahead: about an hour, whole seconds lost.
	h := http.Header{"Retry-After": {time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}}
	if got := retryAfter(h); got < 58*time.Minute || got > time.Hour {
		t.Errorf("Retry-After an hour ahead = %v", got)
	}
	// A date in the past asks for no wait; max() with the backoff ignores it.
	h = http.Header{"Retry-After": {time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)}}
	if got := retryAfter(h); got > 0 {
		t.Errorf("Retry-After an hour ago = %v", got)
	}
}

// printable cuts at n bytes, never inside a rune, and keeps text of
// exactly n bytes whole.
func TestPrintableAtN(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{
		{"abcde", 5, "abcde"},
		{"abcdef", 5, "abcde..."},
		{"abcd\u00e9", 6, "abcd\u00e9"},
		{"abcd\u00e9", 5, "abcd..."},
		{"abcd\u00e9f", 6, "abcd\u00e9..."},
		{"", 0, ""},
		{"a", 0, "..."},
		{"  a \n b  ", 3, "a b"},
	} {
		if got := printable(tt.in, tt.n); got != tt.want {
			t.Errorf("printable(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

// The client reads up to 1 MiB: an answer of exactly that size is whole,
// one byte more is "over 1 MiB", not a cut body that fails to parse.
func TestClientReadsUpTo1MiB(t *testing.T) {
	token := `{"access_token":"AT","expires_in":1800,"token_type":"Bearer"}`
	for _, tt := range []struct {
		size int
		msg  string // "": accepted
	}{
		{maxBody, ""},
		{maxBody + 1, "HTTP 200: response body over 1 MiB"},
	} {
		body := `{"pad":"` + strings.Repeat("x", tt.size-len(token)-len(`{"pad":"",`)+1) + `",` + token[1:]
		if len(body) != tt.size {
			t.Fatalf("body of %d bytes, want %d", len(body), tt.size)
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, body)
		}))
		c := &Client{URL: srv.URL, HTTP: srv.Client(), Log: discard(), Attempts: 1}
		r, err := c.Refresh(context.Background(), "RT")
		srv.Close()
		if tt.msg == "" && (err != nil || r.AccessToken != "AT") || tt.msg != "" && (err == nil || err.Error() != tt.msg) {
			t.Errorf("%d bytes: %+v, %v; want %q", tt.size, r, err, tt.msg)
		}
	}
}

// invalid_client is both a dead refresh token near its 7-day end and wrong
// app credentials: its hint names both. The other login codes name only
// the login.
func TestRejectionHints(t *testing.T) {
	for _, tt := range []struct {
		body, hint string
	}{
		{`{"error":"invalid_client"}`, LoginHint + "; if that does not help, check app_key and app_secret"},
		{`{"error":"invalid_grant"}`, LoginHint},
		{`{"error":"unsupported_token_type"}`, LoginHint},
		{`{"error":"access_denied"}`, "check app_key and app_secret in the app config and the app's status in the Schwab developer portal"},
	} {
		_, err := Classify(400, nil, []byte(tt.body))
		if got := exit.Hint(err); got != tt.hint {
			t.Errorf("%s: hint %q, want %q", tt.body, got, tt.hint)
		}
	}
}

// Schwab's nested error is found also when the description is nothing but
// the inner JSON.
func TestRejectionNestedAtStart(t *testing.T) {
	_, err := Classify(400, nil, []byte(`{"error":"unsupported_token_type","error_description":"{\"error\":\"refresh_token_authentication_error\",\"error_description\":\"expired\"}"}`))
	var rej *RejectedError
	if !errors.As(err, &rej) || rej.Code != "refresh_token_authentication_error" || rej.Description != "expired" || !rej.Login {
		t.Errorf("got %#v, want the inner error", err)
	}
}

// What a non-JSON body is called, exactly.
func TestSniff(t *testing.T) {
	for _, tt := range []struct{ body, want string }{
		{"", "empty body"},
		{" \n", "empty body"},
		{"<title>Access Denied</title>", "HTML page: Access Denied"},
		{"<html><title> \n </title></html>", "HTML page"},
		{"<html><title></title></html>", "HTML page"},
		{"<html>", "HTML page"},
		{"oops", "4 bytes of text"},
	} {
		if got := sniff([]byte(tt.body)); got != tt.want {
			t.Errorf("sniff(%q) = %q, want %q", tt.body, got, tt.want)
		}
	}
}

// asciiLower lower-cases exactly A to Z, byte for byte.
func TestASCIILower(t *testing.T) {
	in := "@AMZ[`amz{\xc9\xe9"
	if got, want := string(asciiLower([]byte(in))), "@amz[`amz{\xc9\xe9"; got != want {
		t.Errorf("asciiLower(%q) = %q, want %q", in, got, want)
	}
}
