package login

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/fixture"
	"github.com/refresh-token/refresh-token/internal/seam"
	"github.com/refresh-token/refresh-token/internal/testutil"
	"github.com/refresh-token/refresh-token/oauth"
)

// Whatever would make the login fail after the user logged in is found
// before the URL is shown: a lock that is a symlink or another user's, a
// directory or a FIFO at the token path. Nothing is written, no code is
// spent.
func TestLoginChecksBeforeTheURL(t *testing.T) {
	for _, tt := range []struct {
		name  string
		plant func(t *testing.T, r *fixture.Login)
		code  int
		want  string
		root  bool
	}{
		{"lock is a symlink", func(t *testing.T, r *fixture.Login) {
			os.Symlink(r.App, r.Tokens+".lock")
		}, exit.CantCreate, "is a symlink: refusing to follow it", false},
		{"lock is another user's", func(t *testing.T, r *fixture.Login) {
			os.WriteFile(r.Tokens+".lock", nil, 0o600)
			os.Chown(r.Tokens+".lock", 65534, 65534)
		}, exit.CantCreate, "belongs to uid 65534", true},
		{"directory at the token path", func(t *testing.T, r *fixture.Login) {
			os.Remove(r.Tokens)
			os.Mkdir(r.Tokens, 0o700)
		}, exit.CantCreate, "is a directory", false},
		{"FIFO at the token path", func(t *testing.T, r *fixture.Login) {
			os.Remove(r.Tokens)
			if err := syscall.Mkfifo(r.Tokens, 0o666); err != nil {
				t.Fatal(err)
			}
		}, exit.NoInput, "is a FIFO, not a regular file", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root && os.Geteuid() != 0 {
				t.Skip("needs root to give a file to uid 65534")
			}
			r := fixture.NewLogin(t)
			tt.plant(t, r)
			var stdout bytes.Buffer
			_, err := Run(context.Background(), Options{
				TokenFile: r.Tokens, AppConfig: r.App, TokenURL: r.URL, AuthorizeURL: r.AuthURL,
				HTTPTimeout: time.Second, LockTimeout: time.Second, CallbackTimeout: time.Second,
				Manual: true, NoBrowser: true, Stdin: strings.NewReader(""), Stdout: &stdout, Log: discard(),
			})
			if exit.Code(err) != tt.code || !strings.Contains(fmt.Sprint(err), tt.want) {
				t.Errorf("err = %v (exit %d), want %d with %q", err, exit.Code(err), tt.code, tt.want)
			}
			if stdout.Len() > 0 {
				t.Errorf("the login got as far as the URL:\n%s", stdout.String())
			}
			if n := r.Schwab.Requests(); n != 0 {
				t.Errorf("%d token requests", n)
			}
		})
	}
}

// A token file of another user (planted, 0666) is not copied: the login's
// file is ours, 0600, and a WARN says whose the old one was.
func TestLoginKeepsNoForeignOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file to uid 65534")
	}
	r := fixture.NewLogin(t)
	os.Chmod(r.Tokens, 0o666)
	os.Chown(r.Tokens, 65534, 65534)
	logs, err := manualLogin(t, context.Background(), r, nil)
	if err != nil {
		t.Fatal(err)
	}
	testutil.CheckMode(t, r.Tokens, 0o600)
	fi, _ := os.Stat(r.Tokens)
	if uid := fi.Sys().(*syscall.Stat_t).Uid; int(uid) != os.Geteuid() {
		t.Errorf("new token file owned by uid %d, want ours", uid)
	}
	if !strings.Contains(logs.String(), "belonged to uid 65534, neither us (uid 0) nor root: the new one is ours, mode 0600") {
		t.Errorf("no warning about the old owner:\n%s", logs.String())
	}
	r.CheckNew(t, testutil.Read(t, r.Tokens))
}

// A failed exchange says to run the login again (no run retries a login),
// and the browser's page tells Schwab busy from the code refused.
func TestLoginExchangeFailure(t *testing.T) {
	t.Cleanup(seam.Fast())
	r := fixture.NewLogin(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	_, err := manualLogin(t, context.Background(), r, func(o *Options) { o.TokenURL = srv.URL })
	if exit.Code(err) != exit.TempFail || !strings.Contains(exit.Hint(err), "run 'refresh-token login' again; nothing was saved") {
		t.Errorf("err = %v (exit %d, hint %q), want 75 saying to log in again", err, exit.Code(err), exit.Hint(err))
	}
	for _, tt := range []struct {
		err  error
		code int
		page string
	}{
		{&oauth.TemporaryError{Err: io.ErrUnexpectedEOF}, exit.TempFail, "Schwab did not answer the code's exchange"},
		{&oauth.RejectedError{Grant: oauth.GrantCode, Status: 400, Code: "invalid_grant"}, exit.NoPerm, "Schwab refused the login's code"},
	} {
		var page oauth.Outcome
		err := exchangeFailed(tt.err, func(o oauth.Outcome) { page = o })
		if exit.Code(err) != tt.code || page.OK || !strings.Contains(page.Message, tt.page) || !strings.Contains(page.Message, "Nothing was changed") {
			t.Errorf("%v: exit %d, page %+v", tt.err, exit.Code(err), page)
		}
	}
}

// The exchange, with its retries, is bounded by a minute: a code dies
// within about 30 seconds, so retrying longer cannot help.
func TestLoginExchangeBudget(t *testing.T) {
	r := fixture.NewLogin(t)
	deadline := make(chan time.Duration, 1)
	hc := &http.Client{Transport: roundTripper(func(req *http.Request) (*http.Response, error) {
		if d, ok := req.Context().Deadline(); ok {
			select {
			case deadline <- time.Until(d):
			default:
			}
		}
		return http.DefaultTransport.RoundTrip(req)
	})}
	if _, err := manualLogin(t, context.Background(), r, func(o *Options) { o.HTTP = hc }); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-deadline:
		if d > time.Minute || d < 50*time.Second {
			t.Errorf("the exchange may take %v, want a minute", d)
		}
	default:
		t.Error("the exchange had no deadline")
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
