package login

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/fixture"
	"github.com/refresh-token/refresh-token/internal/testutil"
	"github.com/refresh-token/refresh-token/oauth"
	"github.com/refresh-token/refresh-token/store"
)

// manualLogin runs a --manual login in process against the rig, pasting
// the redirect at once; o adjusts the options. It returns the log at debug
// level and the error.
func manualLogin(t *testing.T, ctx context.Context, r *fixture.Login, o func(*Options)) (*testutil.SyncBuffer, error) {
	t.Helper()
	inR, inW := io.Pipe()
	defer inW.Close()
	var stdout, logs testutil.SyncBuffer
	opts := Options{
		TokenFile: r.Tokens, AppConfig: r.App, TokenURL: r.URL, AuthorizeURL: r.AuthURL,
		HTTPTimeout: 5 * time.Second, LockTimeout: 5 * time.Second, CallbackTimeout: 10 * time.Second,
		Manual: true, NoBrowser: true, Stdin: inR, Stdout: &stdout,
		Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if o != nil {
		o(&opts)
	}
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, opts)
		done <- err
	}()
	authURL, _, err := testutil.WaitLoginPrompt(stdout.String, true)
	if err != nil {
		t.Fatal(err)
	}
	var pasted string
	b := testutil.Browser{Redirect: func(cb *url.URL) error { pasted = cb.String(); return errors.New("no listener: paste it") }}
	if _, err := b.Login(authURL); err == nil || pasted == "" {
		t.Fatalf("no redirect: %v", err)
	}
	fmt.Fprintf(inW, "%s\n", pasted)
	select {
	case err := <-done:
		return &logs, err
	case <-time.After(30 * time.Second):
		t.Fatal("the login did not end")
	}
	return &logs, nil
}

// A login whose answer carries no refresh token writes nothing: the file
// would be one that no run can refresh.
func TestLoginAnswerWithoutRefreshToken(t *testing.T) {
	r := fixture.NewLogin(t)
	old := testutil.Read(t, r.Tokens)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `{"access_token":"AT-no-rt","expires_in":1800,"token_type":"Bearer"}`)
	}))
	defer srv.Close()
	_, err := manualLogin(t, context.Background(), r, func(o *Options) { o.TokenURL = srv.URL })
	if exit.Code(err) != exit.TempFail || !strings.Contains(fmt.Sprint(err), "carries no refresh_token") {
		t.Fatalf("err = %v (exit %d), want 75 for an answer without refresh_token", err, exit.Code(err))
	}
	if !bytes.Equal(testutil.Read(t, r.Tokens), old) {
		t.Error("the token file changed")
	}
}

// A login that finds the lock held says the lock is busy; one stopped
// while it waits for the lock says so. Neither writes.
func TestLoginLockBusyOrStopped(t *testing.T) {
	for _, stop := range []bool{false, true} {
		t.Run(fmt.Sprintf("stopped=%v", stop), func(t *testing.T) {
			r := fixture.NewLogin(t)
			old := testutil.Read(t, r.Tokens)
			lock, err := store.Lock(context.Background(), r.Tokens, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer lock.Unlock()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			timeout := 200 * time.Millisecond
			if stop {
				timeout = time.Minute
			}
			var logs *testutil.SyncBuffer
			logs, err = manualLogin(t, ctx, r, func(o *Options) {
				o.LockTimeout = timeout
				if stop {
					// Stop once the code is back: the login then waits for
					// the lock and nothing else.
					o.Log = slog.New(slog.NewTextHandler(cancelOn(cancel, "taking the lock"), &slog.HandlerOptions{Level: slog.LevelDebug}))
				}
			})
			want := "busy: another refresh-token run holds the lock"
			if stop {
				want = "stopped while waiting for the lock"
			}
			if exit.Code(err) != exit.TempFail || !strings.Contains(fmt.Sprint(err), want) {
				t.Fatalf("err = %v (exit %d), want 75 with %q\n%s", err, exit.Code(err), want, logs)
			}
			if !bytes.Equal(testutil.Read(t, r.Tokens), old) {
				t.Error("the token file changed")
			}
			if !stop && !strings.Contains(exit.Hint(err), "run 'refresh-token login' again; nothing was saved") {
				t.Errorf("hint %q, want a login's: run it again, nothing saved", exit.Hint(err))
			}
			if n := r.Schwab.Requests(); n != 0 {
				t.Errorf("%d token requests: the code was spent without the lock", n)
			}
		})
	}
}

// cancelOn is a log writer that calls cancel once a line holds text.
func cancelOn(cancel context.CancelFunc, text string) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		if bytes.Contains(p, []byte(text)) {
			cancel()
		}
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// A login that goes well logs no warning: releasing the lock worked.
func TestLoginQuiet(t *testing.T) {
	r := fixture.NewLogin(t)
	logs, err := manualLogin(t, context.Background(), r, nil)
	if err != nil && exit.Code(err) != exit.OK {
		t.Fatalf("login: %v", err)
	}
	r.CheckNew(t, testutil.Read(t, r.Tokens))
	if strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("warnings after a good login:\n%s", logs)
	}
}

// A login's answer that the file could not hold is a bad answer: exit 75,
// the file unchanged, nothing sent, and the hint says to log in again.
func TestLoginDeepAnswer(t *testing.T) {
	r := fixture.NewLogin(t)
	old := testutil.Read(t, r.Tokens)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `{"access_token":"AT-deep","refresh_token":"RT-deep","expires_in":1800,"x":`+strings.Repeat("[", 31)+strings.Repeat("]", 31)+`}`)
	}))
	defer srv.Close()
	sock, sent := testutil.Listen(t)
	_, err := manualLogin(t, context.Background(), r, func(o *Options) {
		o.TokenURL = srv.URL
		o.Delivery.Sockets = []string{sock}
	})
	if exit.Code(err) != exit.TempFail || !strings.Contains(fmt.Sprint(err), "cannot be kept") || !strings.Contains(exit.Hint(err), "run 'refresh-token login' again") {
		t.Fatalf("err = %v (exit %d, hint %q), want 75 telling to log in again", err, exit.Code(err), exit.Hint(err))
	}
	if !bytes.Equal(testutil.Read(t, r.Tokens), old) {
		t.Error("the token file changed")
	}
	if n := sent(); n != 0 {
		t.Errorf("%d bytes sent to the bot", n)
	}
}

// --manual reads past a pasted line over 64 KiB: it says the line was too
// long and takes the URL pasted next; a last line without a newline counts.
func TestManualLongLine(t *testing.T) {
	cb, err := oauth.CheckCallbackURL("https://127.0.0.1:8182")
	if err != nil {
		t.Fatal(err)
	}
	for _, end := range []string{"\n", ""} {
		in := strings.NewReader(strings.Repeat("x", 200<<10) + "\n" + "https://127.0.0.1:8182/?code=C1&state=st" + end)
		var out, logs bytes.Buffer
		code, err := readRedirect(context.Background(), in, &out, cb, "st", slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil || code != "C1" {
			t.Fatalf("end %q: code %q, err %v\n%s", end, code, err, out.String())
		}
		if !strings.Contains(out.String(), "That line is over 64 KiB") || !strings.Contains(logs.String(), "Pasted line refused: over 64 KiB") {
			t.Errorf("end %q: the long line was not named:\n%s\n%s", end, out.String(), logs.String())
		}
	}
	// A line of exactly 64 KiB with its newline is not too long.
	line := "https://127.0.0.1:8182/?code=C2&state=st&pad=" + strings.Repeat("p", 64<<10-len("https://127.0.0.1:8182/?code=C2&state=st&pad=")-1) + "\n"
	if got, err := readLine(bufio.NewReaderSize(strings.NewReader(line), maxPasted)); err != nil || got != strings.TrimSuffix(line, "\n") {
		t.Errorf("a 64 KiB line: %d bytes, %v", len(got), err)
	}
}

// A manual login does not send the user to a browser "on this machine":
// nothing listens there.
func TestManualPromptSaysAnyMachine(t *testing.T) {
	r := fixture.NewLogin(t)
	var stdout testutil.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, Options{TokenFile: r.Tokens, AppConfig: r.App, TokenURL: r.URL, AuthorizeURL: r.AuthURL,
			HTTPTimeout: time.Second, LockTimeout: time.Second, CallbackTimeout: time.Minute,
			Manual: true, NoBrowser: true, Stdin: strings.NewReader(""), Stdout: &stdout, Log: discard()})
		done <- err
	}()
	<-done
	cancel()
	if s := stdout.String(); !strings.Contains(s, "Log in to Schwab with this URL, in a browser on any machine:") || strings.Contains(s, "on this machine") {
		t.Errorf("manual prompt:\n%s", s)
	}
}
