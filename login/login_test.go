package login

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
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
	"github.com/refresh-token/refresh-token/store"
)

// --manual reads the redirected URL from standard input; the pasted URL's
// code is exchanged and the file written, in process.
func TestLoginManual(t *testing.T) {
	r := fixture.NewLogin(t)
	inR, inW := io.Pipe()
	var stdout testutil.SyncBuffer
	done := make(chan error, 1)
	opened := make(chan string, 1)
	go func() {
		_, err := Run(context.Background(), Options{
			TokenFile: r.Tokens, AppConfig: r.App, TokenURL: r.URL, AuthorizeURL: r.AuthURL,
			HTTPTimeout: 5 * time.Second, LockTimeout: 5 * time.Second, CallbackTimeout: 10 * time.Second,
			Manual: true, Log: discard(), Stdin: inR, Stdout: &stdout,
			Open: func(u string) { opened <- u },
		})
		done <- err
	}()
	authURL, _, err := testutil.WaitLoginPrompt(stdout.String, true)
	if err != nil {
		t.Fatal(err)
	}
	if u := <-opened; u != authURL {
		t.Errorf("opened %q, want the printed %q", u, authURL)
	}
	var pasted string
	b := testutil.Browser{Redirect: func(cb *url.URL) error { pasted = cb.String(); return errors.New("no listener: paste it") }}
	if _, err := b.Login(authURL); err == nil || pasted == "" {
		t.Fatalf("no redirect: %v", err)
	}
	fmt.Fprintf(inW, "\n%s\n", pasted)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	inW.Close()
	r.CheckNew(t, testutil.Read(t, r.Tokens))
	if s := stdout.String(); !strings.Contains(s, "Logged in. New token file") || strings.Contains(s, r.Schwab.RefreshToken()) {
		t.Errorf("stdout:\n%s", s)
	}
}

// The login's summary and page give the times, never a token.
func TestLoginSummary(t *testing.T) {
	var b bytes.Buffer
	f := store.NewTokenFile(&oauth.Response{AccessToken: "AT-secret-value", RefreshToken: "RT-secret-value", ExpiresIn: 1800}, time.Unix(1_800_000_000, 0))
	printSummary(&b, "t.json", f)
	out := b.String()
	for _, want := range []string{"2027-01-15 08:30:00 UTC", "2027-01-22 08:00:00 UTC", "2027-01-21 20:00:00 UTC"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "secret-value") {
		t.Errorf("summary shows a token:\n%s", out)
	}
	var doc map[string]any
	if json.Unmarshal(f.Marshal(), &doc) != nil {
		t.Error("file is not JSON")
	}
}

// --no-browser opens nothing; the login still prints the URL.
func TestLoginNoBrowser(t *testing.T) {
	r := fixture.NewLogin(t)
	var stdout bytes.Buffer
	_, err := Run(context.Background(), Options{
		TokenFile: r.Tokens, AppConfig: r.App, TokenURL: r.URL, AuthorizeURL: r.AuthURL,
		CallbackTimeout: 50 * time.Millisecond, NoBrowser: true, Log: discard(), Stdout: &stdout,
		Open: func(u string) { t.Errorf("opened %s with --no-browser", u) },
	})
	if exit.Code(err) != exit.TempFail || !strings.Contains(err.Error(), "no login within 50ms") {
		t.Errorf("err = %v", err)
	}
	if _, _, ok := testutil.LoginPrompt(stdout.String()); !ok {
		t.Errorf("no URL printed:\n%s", &stdout)
	}
}

// A login through the callback, in process: the browser's page says the
// outcome the terminal says, logged in or not written.
func TestLoginCallbackPage(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("write fails=%v", fail), func(t *testing.T) {
			r := fixture.NewLogin(t)
			if fail {
				real := seam.Fsync
				t.Cleanup(func() { seam.Fsync = real })
				seam.Fsync = func(*os.File) error { return syscall.ENOSPC }
			}
			var stdout testutil.SyncBuffer
			var logs bytes.Buffer
			done := make(chan error, 1)
			go func() {
				_, err := Run(context.Background(), Options{
					TokenFile: r.Tokens, AppConfig: r.App, TokenURL: r.URL, AuthorizeURL: r.AuthURL,
					HTTPTimeout: 5 * time.Second, LockTimeout: 5 * time.Second, CallbackTimeout: 30 * time.Second,
					NoBrowser: true, Stdout: &stdout, Log: slog.New(slog.NewTextHandler(&logs, nil)),
				})
				done <- err
			}()
			authURL, fp, err := testutil.WaitLoginPrompt(stdout.String, false)
			if err != nil {
				t.Fatal(err)
			}
			v, err := testutil.Browser{Fingerprint: fp, Timeout: 20 * time.Second}.Login(authURL)
			if err != nil {
				t.Fatal(err)
			}
			err = <-done
			if !fail {
				if err != nil || v.Status != 200 || !strings.Contains(v.Page, "Logged in: refresh-token saved the new token.") {
					t.Errorf("err %v; page %d %s", err, v.Status, v.Page)
				}
				r.CheckNew(t, testutil.Read(t, r.Tokens))
				return
			}
			if exit.Code(err) != exit.CantCreate || v.Status == 200 || !strings.Contains(v.Page, "Logged in, but the token file could not be written.") {
				t.Errorf("err %v (exit %d); page %d %s", err, exit.Code(err), v.Status, v.Page)
			}
			if strings.Contains(logs.String(), "new refresh token written") || strings.Contains(stdout.String(), "Logged in. New token file") {
				t.Errorf("a failed write reported as written:\n%s\n%s", logs.String(), stdout.String())
			}
		})
	}
}
