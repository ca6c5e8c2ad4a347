package refresh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/refresh-token/refresh-token/deliver"
	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/human"
	"github.com/refresh-token/refresh-token/internal/seam"
	"github.com/refresh-token/refresh-token/oauth"
	"github.com/refresh-token/refresh-token/store"
)

// refreshBudget bounds the token request with its retries, well under the
// 25-minute cadence of the timer.
const refreshBudget = 5 * time.Minute

// Options configure one refresh run.
type Options struct {
	TokenFile       string
	AppConfig       string
	CredentialsDir  string // $CREDENTIALS_DIRECTORY
	TokenURL        string
	HTTPTimeout     time.Duration
	LockTimeout     time.Duration
	IfExpiresWithin time.Duration // 0: refresh on every run
	Force           bool
	Delivery        deliver.Delivery
	Log             *slog.Logger
	Started         func()           // called once the app config is read; nil: none
	HTTP            *http.Client     // nil: oauth.NewHTTPClient(HTTPTimeout)
	Now             func() time.Time // nil: time.Now
}

// Stages in Result.Durations, in run order.
const (
	StageLock    = "lock"
	StageRefresh = "refresh"
	StageWrite   = "write"
	StageDeliver = "deliver"
)

// Result says what a run did, for metrics and status.
type Result struct {
	Refreshed bool
	Skipped   string           // why a guard skipped the refresh
	File      *store.TokenFile // the token file as it stands after the run; nil if unread
	Delivered bool             // every socket got the token: acknowledged, closed after reading it (--ack=auto), or written whole (--ack=none)
	Replies   []Reply          // what each socket did with the token, in --socket order
	Durations map[string]time.Duration
}

// NewResult returns an empty Result, ready to time its stages.
func NewResult() Result { return Result{Durations: map[string]time.Duration{}} }

// Time adds the time since start to stage.
func (r Result) Time(stage string, start time.Time) { r.Durations[stage] += time.Since(start) }

// Clock is now, or time.Now when now is nil.
func Clock(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}

// Run performs one refresh cycle: it takes the exclusive lock beside the
// token file, reads the file (schwab-py format, unknown fields kept),
// decides whether a refresh is due, posts the refresh_token grant, writes
// the file atomically and durably, and hands the new token to package
// deliver. The error is an *exit.Error that carries a sysexits(3) exit code
// and, where there is one, a hint that says what to do.
//
// The lock serialises refresh-token runs only. Other programs that share
// the token file (schwab-py writes it in place, without a lock) are met by
// re-reading a half-written file after a short pause.
func Run(ctx context.Context, o Options) (Result, error) {
	res := NewResult()
	log := o.Log
	now := Clock(o.Now)
	timed := res.Time

	if err := oauth.CheckURL(o.TokenURL); err != nil {
		return res, err
	}
	app, err := store.LoadApp(o.AppConfig, o.CredentialsDir)
	if err != nil {
		return res, err
	}
	if o.Started != nil {
		o.Started()
	}

	if err := store.CheckSchwabdev(o.TokenFile); err != nil {
		return res, err
	}
	start := time.Now()
	lock, err := store.Lock(ctx, o.TokenFile, o.LockTimeout)
	timed(StageLock, start)
	if err != nil {
		return res, err
	}
	defer lock.Release(log)

	store.RemoveTemps(o.TokenFile, log)
	f, err := store.ReadTokenFile(ctx, o.TokenFile, log)
	if err != nil {
		return res, err
	}
	res.File = f
	t := now()
	warnLoginAge(f, t, log)

	if reason := skip(f.Token, t, o); reason != "" {
		lock.Release(log)
		res.Skipped = reason
		log.Info("Skipping refresh: "+reason, "expires_at", f.Token.Expiry().Format(time.DateTime))
		if !f.Token.Expiry().After(t) {
			return res, nil
		}
		start = time.Now()
		res.Replies, err = Deliver(ctx, f.Token, o.Delivery, log)
		res.Delivered = Delivered(res.Replies)
		timed(StageDeliver, start)
		return res, err
	}

	log.Info("Refreshing OAuth token...")
	log.Debug("Using refresh token", "refresh_token", human.Secret(f.Token.RefreshToken), "url", oauth.RedactURL(o.TokenURL))
	hc := o.HTTP
	if hc == nil {
		hc = oauth.NewHTTPClient(o.HTTPTimeout)
	}
	client := &oauth.Client{URL: o.TokenURL, App: app, HTTP: hc, Log: log, Backoff: seam.TokenBackoff}
	start = time.Now()
	rctx, cancel := context.WithTimeout(ctx, refreshBudget)
	resp, err := client.Refresh(rctx, f.Token.RefreshToken)
	cancel()
	timed(StageRefresh, start)
	if err != nil {
		return res, fmt.Errorf("refresh token: %w", err)
	}
	res.Refreshed = true
	before := f.Token.RefreshToken
	f.Apply(resp, now())
	if f.Token.RefreshToken != before {
		log.Info("Schwab issued a new refresh token; its 7-day clock starts now")
	}
	log.Debug("New access token", "access_token", human.Secret(f.Token.AccessToken))

	start = time.Now()
	werr := store.WriteTokenFile(o.TokenFile, f)
	timed(StageWrite, start)
	lock.Release(log)
	switch {
	case errors.Is(werr, store.ErrTooDeep):
		// Only the answer can nest so deep: a bad answer, like a malformed
		// one. Nothing was written, and nothing is sent.
		return res, exit.Fail(exit.TempFail, "the next run asks again; the token file is unchanged and nothing was sent to the bot",
			"the token endpoint's answer cannot be kept in the token file: %w", werr)
	case errors.Is(werr, store.ErrTooBig):
		// The bot still gets the new token: it is valid whether or not the
		// file could be written.
		werr = exit.Fail(exit.CantCreate, "the token file holds unknown fields too big to keep; the old file is intact: remove them, or run 'refresh-token login' to write a new file",
			"token file could not be written: %w", werr)
	case werr != nil:
		werr = exit.Fail(exit.CantCreate, "check free space and that the directory is writable; the old file is intact",
			"token file could not be written: %w", werr)
	default:
		log.Info(fmt.Sprintf("Token refreshed successfully (expires in %s)", human.Duration(time.Duration(resp.ExpiresIn)*time.Second)),
			"expires_at", f.Token.Expiry().Format(time.DateTime))
	}

	start = time.Now()
	res.Replies, err = Deliver(ctx, f.Token, o.Delivery, log)
	res.Delivered = Delivered(res.Replies)
	timed(StageDeliver, start)
	if werr != nil {
		return res, werr
	}
	return res, err
}

// skip returns why the guards skip this run's refresh, or "".
func skip(tok store.Token, now time.Time, o Options) string {
	if o.Force {
		return ""
	}
	if tok.ExpiresAt == 0 {
		return "" // no expiry known: refresh
	}
	age := now.Sub(tok.Issued())
	if age < -store.RecentlyIssued {
		// Issued in the future: the clock moved backwards or the file is
		// wrong. Refreshing is the safe answer.
		o.Log.Warn(fmt.Sprintf("Access token claims to be issued %s from now (clock moved backwards?); refreshing", human.Duration(tok.Issued().Sub(now))))
		return ""
	}
	if age < store.RecentlyIssued {
		return fmt.Sprintf("access token was issued %s ago, by another run", human.Duration(max(age, 0)))
	}
	left := tok.Expiry().Sub(now)
	if left > store.MaxLifetime {
		// Schwab's access tokens live 30 minutes: a file that claims much
		// longer is wrong, and trusting it could skip refreshes for good.
		o.Log.Warn(fmt.Sprintf("Access token claims to live %s more, longer than any Schwab token; refreshing", human.Duration(left)))
		return ""
	}
	if o.IfExpiresWithin > 0 && left > o.IfExpiresWithin {
		return fmt.Sprintf("access token expires in %s, later than --if-expires-within %s", human.Duration(left), o.IfExpiresWithin)
	}
	return ""
}

// warnLoginAge warns, on every run, when the refresh token is near Schwab's
// 7-day limit. It never stops the run: Schwab may still accept the token.
func warnLoginAge(f *store.TokenFile, now time.Time, log *slog.Logger) {
	if f.CreationTimestamp == 0 {
		log.Warn("Token file has no creation_timestamp: the refresh token's age, and so the 7-day login deadline, is unknown")
		return
	}
	age := now.Sub(f.Created())
	if age < -store.RecentlyIssued {
		log.Warn(fmt.Sprintf("Token file's creation_timestamp is %s in the future (clock moved backwards?): the 7-day login deadline cannot be told", human.Duration(f.Created().Sub(now))))
		return
	}
	switch {
	case age >= store.RefreshLifetime:
		log.Warn(fmt.Sprintf("Refresh token is %s old, past Schwab's 7-day limit: the next refresh will most likely be refused; run 'refresh-token login'", human.Duration(age)))
	case age >= store.LoginWarnAge:
		log.Warn(fmt.Sprintf("Refresh token is %s old: Schwab expires it after about 7 days; run 'refresh-token login' soon", human.Duration(age)))
	}
}

// Reply is what one socket did with the token: deliver's reply, "" when
// it was not delivered.
type Reply struct {
	Socket string
	Reply  deliver.Reply
}

// Deliver pushes tok to the bot's sockets as a run does (deliver.Push) and
// says what each did with it.
func Deliver(ctx context.Context, tok store.Token, d deliver.Delivery, log *slog.Logger) ([]Reply, error) {
	m := deliver.Message{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, ExpiresAt: tok.ExpiresAt}
	replies, err := deliver.Push(ctx, m, d, log)
	out := make([]Reply, len(replies))
	for i, r := range replies {
		out[i] = Reply{Socket: d.Sockets[i], Reply: r}
	}
	return out, err
}

// Delivered reports whether every socket got the token.
func Delivered(replies []Reply) bool {
	for _, r := range replies {
		if r.Reply == "" {
			return false
		}
	}
	return len(replies) > 0
}
