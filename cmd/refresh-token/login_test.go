package main

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/refresh-token/refresh-token/harness"
	"github.com/refresh-token/refresh-token/internal/testutil"
	"github.com/rogpeppe/go-internal/testscript"
)

// The commands of login*.txtar: the test plays the user's browser.

// freeport NAME: set NAME to a loopback TCP port that was free a moment ago.
func cmdFreeport(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeport NAME")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	ts.Setenv(args[0], fmt.Sprint(ln.Addr().(*net.TCPAddr).Port))
	ln.Close()
}

// holdport PORT: listen on 127.0.0.1:PORT until the script ends, as a
// program that took the callback port would.
func cmdHoldport(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: holdport PORT")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+args[0])
	ts.Check(err)
	ts.Defer(func() { ln.Close() })
}

// appconfig FILE KEY SECRET CALLBACK_URL: write an app config.
func cmdAppconfig(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: appconfig FILE KEY SECRET CALLBACK_URL")
	}
	data := fmt.Sprintf("app_name: test\napp_key: %s\napp_secret: %s\ncallback_url: %s\n", args[1], args[2], args[3])
	ts.Check(os.MkdirAll(ts.MkAbs(dirOf(args[0])), 0o700))
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(data), 0o600))
}

// browse OUT [hold=DUR] [state=STATE] [steal=KEY:SECRET]: wait for the
// login that writes its standard output to OUT to print its URL, then log
// in as a browser: Schwab's redirect, then the callback. hold waits before
// the callback (the code expires); state replaces the redirect's state;
// steal exchanges the code at $URL first, so that the login's exchange
// reuses it. Prints "status N" and the callback's page.
func cmdBrowse(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: browse OUT [hold=DUR] [state=STATE] [steal=KEY:SECRET]")
	}
	authURL, fp, err := testutil.WaitLoginPrompt(func() string {
		data, _ := os.ReadFile(ts.MkAbs(args[0]))
		return string(data)
	}, false)
	ts.Check(err)
	b := testutil.Browser{Fingerprint: fp, Timeout: 20 * time.Second}
	for _, a := range args[1:] {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "hold":
			b.Hold, err = time.ParseDuration(v)
			ts.Check(err)
		case "state":
			b.Redirect = chain(b.Redirect, func(cb *url.URL) error {
				q := cb.Query()
				q.Set("state", v)
				cb.RawQuery = q.Encode()
				return nil
			})
		case "steal":
			key, secret, _ := strings.Cut(v, ":")
			b.Redirect = chain(b.Redirect, func(cb *url.URL) error {
				redirect := cb.Scheme + "://" + cb.Host + cb.Path
				form := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")}, "redirect_uri": {redirect}}
				req, err := http.NewRequest(http.MethodPost, ts.Getenv("URL"), strings.NewReader(form.Encode()))
				if err != nil {
					return err
				}
				req.SetBasicAuth(key, secret)
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return err
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					return fmt.Errorf("steal the code: %s", resp.Status)
				}
				return nil
			})
		default:
			ts.Fatalf("browse: unknown option %q", a)
		}
	}
	v, err := b.Login(authURL)
	ts.Check(err)
	fmt.Fprintf(ts.Stdout(), "status %d\n%s", v.Status, v.Page)
}

func chain(a, b func(*url.URL) error) func(*url.URL) error {
	if a == nil {
		return b
	}
	return func(u *url.URL) error {
		if err := a(u); err != nil {
			return err
		}
		return b(u)
	}
}

// waitprompt OUT: wait until the login writing to OUT has printed its URL
// and certificate fingerprint, i.e. it is waiting for the browser.
func cmdWaitprompt(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitprompt OUT")
	}
	_, _, err := testutil.WaitLoginPrompt(func() string {
		data, _ := os.ReadFile(ts.MkAbs(args[0]))
		return string(data)
	}, false)
	ts.Check(err)
}

// authorize allow|deny: what the fake Schwab at $URL does with the next
// browser login.
func cmdAuthorize(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: authorize allow|deny")
	}
	resp, err := http.Post(control(ts, "authorize"), "text/plain", strings.NewReader(args[0]))
	ts.Check(err)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		ts.Fatalf("authorize %s: %s", args[0], resp.Status)
	}
}

// authorizeurl NAME: set NAME to the authorization URL of the fake Schwab
// whose token URL is $URL.
func cmdAuthorizeURL(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: authorizeurl NAME")
	}
	ts.Setenv(args[0], strings.TrimSuffix(ts.Getenv("URL"), harness.TokenPath)+harness.AuthorizePath)
}
