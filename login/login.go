// Package login runs the weekly browser login: the authorization-code grant, a new token file, its delivery.
package login

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/refresh-token/refresh-token/deliver"
	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/human"
	"github.com/refresh-token/refresh-token/internal/seam"
	"github.com/refresh-token/refresh-token/oauth"
	"github.com/refresh-token/refresh-token/refresh"
	"github.com/refresh-token/refresh-token/store"
)

// exchangeBudget bounds the code exchange with its retries: a code dies
// within about 30 seconds, so retrying much longer cannot help.
const exchangeBudget = time.Minute

// Options configure one browser login.
type Options struct {
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
	Delivery        deliver.Delivery
	CallbackTrust   []int // uids the callback serves besides ours and root's: $SUDO_UID, --trust-uid
	Log             *slog.Logger
	Stdin           io.Reader
	Stdout          io.Writer        // the URL, the instructions and the summary
	HTTP            *http.Client     // nil: oauth.NewHTTPClient(HTTPTimeout)
	Now             func() time.Time // nil: time.Now
	Open            func(url string) // nil: the desktop's opener, when there is a display and a terminal
	Started         func()           // called once the inputs are checked, before the login starts; nil: none
}

// Run runs the authorization-code grant in a browser and replaces the
// token file with its answer, under the lock, atomically; then it delivers
// the new token as run does. Until the new file is complete the old one is
// untouched: a failed, denied or interrupted login leaves it as it was.
func Run(ctx context.Context, o Options) (refresh.Result, error) {
	res := refresh.NewResult()
	log := o.Log
	now := refresh.Clock(o.Now)
	timed := res.Time

	// Everything that can be checked is checked before the user logs in.
	if err := oauth.CheckURL(o.TokenURL); err != nil {
		return res, err
	}
	if err := oauth.CheckAuthorizeURL(o.AuthorizeURL); err != nil {
		return res, err
	}
	app, err := store.LoadApp(o.AppConfig, o.CredentialsDir)
	if err != nil {
		return res, err
	}
	callbackURL, err := store.LoadCallbackURL(o.AppConfig)
	if err != nil {
		return res, err
	}
	callback, err := oauth.CheckCallbackURL(callbackURL)
	if err != nil {
		return res, err
	}
	if err := store.CheckTokenPath(o.TokenFile); err != nil {
		return res, err
	}
	// The lock file is opened and checked (no symlink, ours or root's, a
	// regular file) now; it is locked once the code has come back, before
	// the exchange spends it.
	lf, err := store.OpenLock(o.TokenFile)
	if err != nil {
		return res, err
	}
	locked := false
	defer func() {
		if !locked {
			lf.Close()
		}
	}()
	if o.Started != nil {
		o.Started()
	}

	state := oauth.NewState()
	var srv *oauth.CallbackServer
	if !o.Manual {
		if srv, err = oauth.ListenCallback(callback, state, o.CallbackTrust, log); err != nil {
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

	// The lock first: a code spent while a run holds the lock would be lost
	// with its answer if the lock stayed busy.
	log.Info("Login callback received; taking the lock")
	start := time.Now()
	lock, err := lf.Lock(ctx, o.LockTimeout)
	timed(refresh.StageLock, start)
	switch {
	case err != nil && ctx.Err() != nil:
		reply(oauth.Outcome{Message: "refresh-token login was stopped before it used the code. Nothing was changed."})
		return res, exit.Fail(exit.TempFail, "run 'refresh-token login' again",
			"stopped while waiting for the lock: the code was not used; the token file is unchanged")
	case errors.Is(err, store.ErrBusy):
		reply(oauth.Outcome{Message: "A refresh-token run held the token file too long; the code was not used. Nothing was changed."})
		return res, exit.Fail(exit.TempFail, "run 'refresh-token login' again; nothing was saved (a run held the lock past --lock-timeout)",
			"%w", err)
	case err != nil:
		reply(oauth.Outcome{Message: "The token file's lock could not be taken; the code was not used. Nothing was changed."})
		return res, err
	}
	locked = true
	defer lock.Release(log)

	log.Info("Exchanging the code")
	log.Debug("Authorization code", "code", human.Secret(code))
	hc := o.HTTP
	if hc == nil {
		hc = oauth.NewHTTPClient(o.HTTPTimeout)
	}
	client := &oauth.Client{URL: o.TokenURL, App: app, HTTP: hc, Log: log, Backoff: seam.TokenBackoff}
	start = time.Now()
	ectx, cancel := context.WithTimeout(ctx, exchangeBudget)
	resp, err := client.Exchange(ectx, code, callbackURL)
	cancel()
	timed(refresh.StageRefresh, start)
	if err == nil && resp.RefreshToken == "" {
		err = exit.Fail(exit.TempFail, "run 'refresh-token login' again",
			"Schwab's answer to the login carries no refresh_token")
	}
	if err != nil {
		return res, exchangeFailed(err, reply)
	}
	f := store.NewTokenFile(resp, now())
	res.Refreshed = true
	log.Debug("New tokens", "access_token", human.Secret(f.Token.AccessToken), "refresh_token", human.Secret(f.Token.RefreshToken))

	start = time.Now()
	store.RemoveTemps(o.TokenFile, log)
	foreign, werr := store.WriteNewTokenFile(o.TokenFile, f)
	timed(refresh.StageWrite, start)
	lock.Release(log)
	switch {
	case errors.Is(werr, store.ErrTooDeep):
		// A bad answer: nothing was written, and nothing is sent.
		reply(oauth.Outcome{Message: "Schwab's answer could not be kept. Nothing was changed."})
		return res, exit.Fail(exit.TempFail, "run 'refresh-token login' again; the token file is unchanged",
			"Schwab's answer to the login cannot be kept in the token file: %w", werr)
	case werr != nil:
		werr = exit.Fail(exit.CantCreate, "check free space and that the directory is writable; the old file is intact; run 'refresh-token login' again",
			"token file could not be written: %w", werr)
	case foreign >= 0:
		log.Warn(fmt.Sprintf("The old token file %s belonged to uid %d, neither us (uid %d) nor root: the new one is ours, mode 0600; chown it if the bot runs as that user",
			o.TokenFile, foreign, os.Geteuid()))
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
	res.Replies, err = refresh.Deliver(ctx, f.Token, o.Delivery, log)
	res.Delivered = refresh.Delivered(res.Replies)
	timed(refresh.StageDeliver, start)
	if werr != nil {
		return res, werr
	}
	printSummary(o.Stdout, o.TokenFile, f)
	return res, err
}

// exchangeFailed is the error of a failed exchange, and the page the
// browser shows for it: no run retries a login, so every hint says to run
// it again, and the page tells Schwab busy from the code refused.
func exchangeFailed(err error, reply func(oauth.Outcome)) error {
	if exit.Code(err) == exit.TempFail {
		reply(oauth.Outcome{Message: "Schwab did not answer the code's exchange (busy, unreachable, or an answer that could not be used). Nothing was changed: run refresh-token login again."})
		return exit.Fail(exit.TempFail, "run 'refresh-token login' again; nothing was saved (no run retries a login)", "login: %w", err)
	}
	reply(oauth.Outcome{Message: "Schwab refused the login's code. Nothing was changed."})
	return fmt.Errorf("login: %w", err)
}

func printInstructions(w io.Writer, authURL string, callback *url.URL, srv *oauth.CallbackServer, o Options) {
	where := "in a browser on this machine (or, over ssh -L, on yours)"
	if srv == nil {
		where = "in a browser on any machine"
	}
	fmt.Fprintf(w, "Log in to Schwab with this URL, %s:\n\n%s\n\n", where, authURL)
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

func printSummary(w io.Writer, tokenFile string, f *store.TokenFile) {
	created := time.Unix(f.CreationTimestamp, 0).UTC()
	access := f.Token.Expiry().UTC()
	fmt.Fprintf(w, `
Logged in. New token file: %s
  access token   valid until %s (refreshed by refresh-token run)
  refresh token  valid until about %s (7 days after this login)
  next login     by %s: run 'refresh-token login' again
`, tokenFile, access.Format(time.DateTime+" UTC"), created.Add(store.RefreshLifetime).Format(time.DateTime+" UTC"),
		created.Add(store.LoginWarnAge).Format(time.DateTime+" UTC"))
}

// readRedirect reads pasted redirect URLs from in until one carries this
// login's code or an error from Schwab, or ctx ends.
func readRedirect(ctx context.Context, in io.Reader, out io.Writer, callback *url.URL, state string, log *slog.Logger) (string, error) {
	lines := make(chan string)
	go func() {
		defer close(lines)
		r := bufio.NewReaderSize(in, maxPasted)
		for {
			line, err := readLine(r)
			if err != nil {
				return
			}
			select {
			case lines <- line:
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
			if line == tooLong {
				log.Warn(fmt.Sprintf("Pasted line refused: over %d KiB, longer than any redirect", maxPasted>>10))
				fmt.Fprintf(out, "That line is over %d KiB, longer than any redirected URL: paste the address from the address bar alone.\nRedirected URL: ", maxPasted>>10)
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

// maxPasted bounds a pasted line: a redirected URL is a few hundred bytes.
const maxPasted = 64 << 10

// tooLong stands for a line over maxPasted, read to its end and dropped; a
// NUL cannot come from a paste of a URL.
const tooLong = "\x00too long"

// readLine reads one line without its end, or tooLong for a line over
// maxPasted bytes, whose rest it reads and drops, so that the next line
// (the URL pasted again) is read. A last line without a newline counts.
func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = r.ReadSlice('\n')
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		return tooLong, nil
	}
	if err != nil && (!errors.Is(err, io.EOF) || len(line) == 0) {
		return "", err
	}
	return strings.TrimRight(string(line), "\r\n"), nil
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
