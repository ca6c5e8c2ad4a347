package refresh

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/oauth"
	"gopkg.in/yaml.v3"
)

// exchangeBudget bounds the code exchange with its retries: a code dies
// within about 30 seconds, so retrying much longer cannot help.
const exchangeBudget = time.Minute

// LoginOptions configure one browser login.
type LoginOptions struct {
	TokenFile       string
	AppConfig       string
	CredentialsDir  string // $CREDENTIALS_DIRECTORY
	TokenURL        string
	AuthorizeURL    string
	HTTPTimeout     time.Duration
	LockTimeout     time.Duration
	CallbackTimeout time.Duration
	Manual          bool // read the redirected URL from Stdin instead of listening
	NoBrowser       bool
	Delivery        Delivery
	Log             *slog.Logger
	Stdin           io.Reader
	Stdout          io.Writer        // the URL, the instructions and the summary
	HTTP            *http.Client     // nil: oauth.NewHTTPClient(HTTPTimeout)
	Now             func() time.Time // nil: time.Now
	Open            func(url string) // nil: the desktop's opener, when there is a display and a terminal
	Started         func()           // called once the inputs are checked, before the login starts; nil: none
}

// Login runs the authorization-code grant in a browser and replaces the
// token file with its answer, under the lock, atomically; then it delivers
// the new token as run does. Until the new file is complete the old one is
// untouched: a failed, denied or interrupted login leaves it as it was.
func Login(ctx context.Context, o LoginOptions) (Result, error) {
	res := Result{Durations: map[string]time.Duration{}}
	log := o.Log
	now := o.Now
	if now == nil {
		now = time.Now
	}
	timed := func(stage string, start time.Time) { res.Durations[stage] += time.Since(start) }

	// Everything that can be checked is checked before the user logs in.
	if err := oauth.CheckURL(o.TokenURL); err != nil {
		return res, err
	}
	if err := oauth.CheckAuthorizeURL(o.AuthorizeURL); err != nil {
		return res, err
	}
	app, err := LoadApp(o.AppConfig, o.CredentialsDir)
	if err != nil {
		return res, err
	}
	callbackURL, err := loadCallbackURL(o.AppConfig)
	if err != nil {
		return res, err
	}
	callback, err := oauth.CheckCallbackURL(callbackURL)
	if err != nil {
		return res, err
	}
	if err := checkTokenDir(o.TokenFile); err != nil {
		return res, err
	}
	if o.Started != nil {
		o.Started()
	}

	state := oauth.NewState()
	var srv *oauth.CallbackServer
	if !o.Manual {
		if srv, err = oauth.ListenCallback(callback, state, log); err != nil {
			return res, err
		}
		defer srv.Close()
	}
	authURL := oauth.AuthorizeURL(o.AuthorizeURL, app.Key, callbackURL, state)
	printInstructions(o.Stdout, authURL, callback, srv, o)
	if !o.NoBrowser {
		open := o.Open
		if open == nil {
			open = desktopOpen
		}
		open(authURL)
	}

	wctx, cancel := context.WithTimeout(ctx, o.CallbackTimeout)
	var code string
	reply := func(oauth.Outcome) {}
	if o.Manual {
		log.Info("Waiting for the redirected URL on standard input", "timeout", o.CallbackTimeout.String())
		code, err = readRedirect(wctx, o.Stdin, o.Stdout, callback, state, log)
	} else {
		log.Info("Waiting for the browser login", "callback", callback.Redacted(), "timeout", o.CallbackTimeout.String())
		var r func(oauth.Outcome)
		code, r, err = srv.Wait(wctx)
		if r != nil {
			reply = r
		}
	}
	cancel()
	switch {
	case err == nil:
	case !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded):
		return res, err // denied, or standard input ended
	case ctx.Err() != nil:
		return res, exit.Fail(exit.TempFail, "run 'refresh-token login' again when you are ready",
			"the wait for the browser login ended before it came back; the token file is unchanged")
	default:
		return res, exit.Fail(exit.TempFail, "run 'refresh-token login' again and finish the login in the browser within --callback-timeout",
			"no login within %s (--callback-timeout); the token file is unchanged", o.CallbackTimeout)
	}

	log.Info("Login callback received; exchanging the code")
	log.Debug("Authorization code", "code", redact(code))
	hc := o.HTTP
	if hc == nil {
		hc = oauth.NewHTTPClient(o.HTTPTimeout)
	}
	client := &oauth.Client{URL: o.TokenURL, App: app, HTTP: hc, Log: log, Backoff: tokenBackoff}
	start := time.Now()
	ectx, cancel := context.WithTimeout(ctx, exchangeBudget)
	resp, err := client.Exchange(ectx, code, callbackURL)
	cancel()
	timed(StageRefresh, start)
	if err == nil && resp.RefreshToken == "" {
		err = exit.Fail(exit.TempFail, "run 'refresh-token login' again",
			"Schwab's answer to the login carries no refresh_token")
	}
	if err != nil {
		reply(oauth.Outcome{Message: "Schwab did not accept the login's code. Nothing was changed."})
		return res, fmt.Errorf("login: %w", err)
	}
	f := newTokenFile(resp, now())
	res.Refreshed = true
	log.Debug("New tokens", "access_token", redact(f.Token.AccessToken), "refresh_token", redact(f.Token.RefreshToken))

	start = time.Now()
	lock, err := Lock(ctx, o.TokenFile, o.LockTimeout)
	timed(StageLock, start)
	var werr error
	if err != nil && ctx.Err() != nil {
		werr = exit.Fail(exit.TempFail, "run 'refresh-token login' again",
			"stopped while waiting for the lock: the new token file was not written; the old one is untouched")
	} else if err != nil {
		werr = err
	} else {
		start = time.Now()
		removeTemps(o.TokenFile, log)
		werr = WriteFile(o.TokenFile, encodeTokenFile(f))
		timed(StageWrite, start)
		if err := lock.Unlock(); err != nil {
			log.Warn("Release lock", "error", err)
		}
		if werr != nil {
			werr = exit.Fail(exit.CantCreate, "check free space and that the directory is writable; the old file is intact; run 'refresh-token login' again",
				"token file could not be written: %w", werr)
		}
	}
	if werr != nil {
		reply(oauth.Outcome{Message: "Logged in, but the token file could not be written."})
	} else {
		res.File = f // for the metrics: the file as it stands
		reply(oauth.Outcome{OK: true, Message: "Logged in: refresh-token saved the new token."})
		log.Info("Logged in: new refresh token written; its 7-day clock starts now", "token_file", o.TokenFile)
	}

	// The bot gets the new token even when the file could not be written:
	// the login has already ended the old tokens' use.
	start = time.Now()
	res.Delivered, err = push(ctx, f.Token, o.Delivery, log)
	timed(StageDeliver, start)
	if werr != nil {
		return res, werr
	}
	printSummary(o.Stdout, o.TokenFile, f)
	return res, err
}

// newTokenFile is the file a login writes: the login's time as
// creation_timestamp, and every field of the response with expires_at.
func newTokenFile(r *oauth.Response, now time.Time) *TokenFile {
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

// loadCallbackURL reads callback_url from the app config, the key schwab-py
// and the bot's own helper read too.
func loadCallbackURL(path string) (string, error) {
	data, err := readAppConfig(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", exit.Fail(exit.NoInput, "login needs callback_url from the app config even when app_key and app_secret come from credentials: pass --app-config",
			"app config %s not found", path)
	}
	if err != nil {
		return "", err
	}
	var f struct {
		CallbackURL any `yaml:"callback_url"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		return "", exit.Fail(exit.Config, "fix the YAML syntax", "app config %s is not valid YAML: %s", path, yamlProblem(err))
	}
	s, ok := f.CallbackURL.(string)
	if f.CallbackURL != nil && !ok {
		return "", exit.Fail(exit.Config, "set callback_url to a URL string, e.g. https://127.0.0.1:8182",
			"app config %s: callback_url is not a string", path)
	}
	return strings.TrimSpace(s), nil
}

// checkTokenDir fails before the login when the new file could not be
// written: its directory must exist and be writable.
func checkTokenDir(path string) error {
	target, err := resolve(path)
	if err != nil {
		return exit.Fail(exit.NoInput, "point --token-file at a file in an existing directory", "token file: %w", err)
	}
	dir := filepath.Dir(target)
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return exit.Fail(exit.NoInput, "create the directory, or pass --token-file", "token file directory %s not found", dir)
	}
	if err := syscall.Access(dir, 0o2); err != nil { // W_OK
		return exit.Fail(exit.CantCreate, "run the login as the user that owns the token file (the bot's user)",
			"token file directory %s is not writable: %v", dir, err)
	}
	return nil
}

func printInstructions(w io.Writer, authURL string, callback *url.URL, srv *oauth.CallbackServer, o LoginOptions) {
	fmt.Fprintf(w, "Log in to Schwab with this URL, in a browser on this machine:\n\n%s\n\n", authURL)
	if srv != nil {
		fmt.Fprintf(w, `After the login Schwab sends the browser back to %s, which this
command serves over HTTPS with a certificate made for this login alone.
The browser warns that the connection is not private: check that the
certificate's SHA-256 fingerprint is

  %s

then proceed (Advanced, then Proceed or Accept the Risk). On a remote
server, forward the port first: ssh -L %s:127.0.0.1:%s <server>.
Waiting up to %s; Ctrl-C stops.
`, callback.Redacted(), srv.Fingerprint, oauth.CallbackPort(callback), oauth.CallbackPort(callback), o.CallbackTimeout)
		return
	}
	fmt.Fprintf(w, `After the login Schwab sends the browser to %s?code=...,
which fails to load: nothing listens there. Copy the whole address from the
address bar, paste it here and press Enter, at once: the code expires
within about 30 seconds.
`, callback.Redacted())
}

func printSummary(w io.Writer, tokenFile string, f *TokenFile) {
	created := time.Unix(f.CreationTimestamp, 0).UTC()
	access := f.Token.Expiry().UTC()
	fmt.Fprintf(w, `
Logged in. New token file: %s
  access token   valid until %s (refreshed by refresh-token run)
  refresh token  valid until about %s (7 days after this login)
  next login     by %s: run 'refresh-token login' again
`, tokenFile, access.Format(time.DateTime+" UTC"), created.Add(refreshLifetime).Format(time.DateTime+" UTC"),
		created.Add(loginWarnAge).Format(time.DateTime+" UTC"))
}

// readRedirect reads pasted redirect URLs from in until one carries this
// login's code or an error from Schwab, or ctx ends.
func readRedirect(ctx context.Context, in io.Reader, out io.Writer, callback *url.URL, state string, log *slog.Logger) (string, error) {
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	fmt.Fprint(out, "Redirected URL: ")
	for {
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case line, ok := <-lines:
			if !ok {
				return "", exit.Fail(exit.TempFail, "run 'refresh-token login --manual' again and paste the address the browser was sent to",
					"standard input ended before a redirected URL was pasted; the token file is unchanged")
			}
			if strings.TrimSpace(line) == "" {
				continue
			}
			code, err := oauth.ReadRedirectURL(line, callback, state)
			var denied *oauth.DeniedError
			switch {
			case err == nil:
				return code, nil
			case errors.As(err, &denied):
				return "", err
			case errors.Is(err, oauth.ErrState):
				log.Warn("Pasted URL refused: its state does not match this login's (from another login?)")
				fmt.Fprint(out, "That URL belongs to another login: paste the address this login was sent to.\nRedirected URL: ")
			default:
				log.Warn(fmt.Sprintf("Pasted URL refused: %v", err))
				fmt.Fprintf(out, "%v.\nRedirected URL: ", err)
			}
		}
	}
}

// desktopOpen opens u in the desktop's browser when there is a display and
// a terminal; elsewhere (a server, a script) the user has the printed URL.
func desktopOpen(u string) {
	if !isTerminal(os.Stdin) || !isTerminal(os.Stdout) {
		return
	}
	opener := "xdg-open"
	switch {
	case runtime.GOOS == "darwin":
		opener = "open"
	case os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "":
		return
	}
	cmd := exec.Command(opener, u)
	if cmd.Start() == nil {
		go cmd.Wait()
	}
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Help is the detail of 'refresh-token login --help'.
func (c *LoginCmd) Help() string {
	return `Schwab ends the refresh token about 7 days after the browser login that issued it; run this once a week (runs warn from 6.5 days, and status shows the age). It reads app_key, app_secret and callback_url from --app-config. callback_url must be the app's registered callback URL, https on 127.0.0.1, e.g. https://127.0.0.1:8182; without a port it means 443, which needs privileges.

It listens on the callback URL's port over HTTPS, with a certificate made in memory for this login alone, then prints the authorization URL on a line of its own and the certificate's SHA-256 fingerprint, and opens a browser when there is a display and a terminal (--no-browser: never). Log in and press Allow; the browser warns about the certificate (check the fingerprint, then proceed) and comes back with a code, which is exchanged at once. A redirect with the wrong state is refused and never exchanged.

The new token file, {"creation_timestamp": <now>, "token": {<every field of Schwab's answer>, "expires_at"}}, is written under the run lock, atomically and durably; an existing file's mode and owner are kept, a new one is 0600. Until then the old file is untouched: a failed, denied or interrupted login leaves it as it was. The new token is then delivered to every --socket as run delivers it, and a summary says until when the tokens are valid and when to log in next.

On a remote server, forward the callback port from the machine with the browser: ssh -L 8182:127.0.0.1:8182 <server>, then open the URL there. Or use --manual: paste the address the browser was sent to (the page that fails to load) at the prompt, within about 30 seconds, before the code expires.

Exit codes:
  0   logged in, the token file written
  66  app config or the token file's directory not found
  73  the new token file could not be written (the new token is still delivered)
  75  no login within --callback-timeout, interrupted, callback port busy, temporary failure of the token endpoint, lock busy
  77  the login was denied, or Schwab refused its code or the app credentials; binding a callback port below 1024 was refused; untrusted bot socket
  78  callback_url not https on 127.0.0.1, app config invalid, plain-http URL off loopback`
}
