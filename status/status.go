// Package status reports the token file, its tokens, the lock and the bot sockets, as text or JSON.
package status

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/refresh-token/refresh-token/deliver"
	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/human"
	"github.com/refresh-token/refresh-token/oauth"
	"github.com/refresh-token/refresh-token/store"
)

// Options say what Check looks at.
type Options struct {
	TokenFile string
	Sockets   []string
	TrustUIDs []int
	Timeout   time.Duration // per socket; 0 means 5s
	Ack       deliver.Ack   // what run expects the bot to answer; zero means deliver.AckAuto, run's default
	Log       *slog.Logger
	Now       time.Time // zero: time.Now()
	// MetricsFile is run's --metrics-file, read for each socket's answer
	// in the last run; "" for none.
	MetricsFile string
}

// Report is the report of refresh-token status. Its JSON form is a stable
// interface, documented in README.md: fields may be added, never renamed.
// Times come as RFC 3339 (UTC) and as Unix seconds, durations in seconds.
type Report struct {
	Healthy       bool     `json:"healthy"`
	ExitCode      int      `json:"exit_code"`
	CheckedAt     string   `json:"checked_at"`
	CheckedAtUnix int64    `json:"checked_at_unix"`
	Problems      []string `json:"problems"` // why ExitCode is not 0
	Warnings      []string `json:"warnings"` // worth acting on, not failures

	TokenFile    File     `json:"token_file"`
	AccessToken  *Access  `json:"access_token"`  // null when the file could not be read
	RefreshToken *Refresh `json:"refresh_token"` // null when the file could not be read
	Lock         Lock     `json:"lock"`
	Sockets      []Socket `json:"sockets"`
}

// File describes the token file.
type File struct {
	Path             string  `json:"path"`
	Exists           bool    `json:"exists"`
	Mode             string  `json:"mode"` // octal permissions, "0600"; "" when missing
	OwnerUID         *int    `json:"owner_uid"`
	OwnerGID         *int    `json:"owner_gid"`
	Owner            string  `json:"owner"` // user name; "" when unknown
	ReadableByOthers bool    `json:"readable_by_others"`
	Error            *string `json:"error"` // why it could not be read or parsed
}

// Access describes the access token.
type Access struct {
	IssuedAt         string `json:"issued_at"`
	IssuedAtUnix     int64  `json:"issued_at_unix"`
	ExpiresAt        string `json:"expires_at"`
	ExpiresAtUnix    int64  `json:"expires_at_unix"`
	LifetimeSeconds  int64  `json:"lifetime_seconds"`  // expires_in
	RemainingSeconds int64  `json:"remaining_seconds"` // negative once expired
	Expired          bool   `json:"expired"`
}

// Refresh describes the refresh token. Its age comes from the file's
// creation_timestamp; without one every field but known is null.
type Refresh struct {
	Known            bool    `json:"known"`
	CreatedAt        *string `json:"created_at"`
	CreatedAtUnix    *int64  `json:"created_at_unix"`
	AgeSeconds       *int64  `json:"age_seconds"`
	ExpiresAt        *string `json:"expires_at"` // estimated: created_at + 7 days
	ExpiresAtUnix    *int64  `json:"expires_at_unix"`
	RemainingSeconds *int64  `json:"remaining_seconds"` // negative once past 7 days
	Expired          bool    `json:"expired"`
}

// Lock states.
const (
	LockFree    = "free"
	LockHeld    = "held"
	LockUnknown = "unknown"
)

// Lock says whether a refresh-token run holds the lock now.
type Lock struct {
	Path  string  `json:"path"`
	State string  `json:"state"` // free, held or unknown
	Error *string `json:"error"` // why the state is unknown
}

// Socket describes one --socket, as deliver.Probe found it.
type Socket struct {
	Path     string  `json:"path"`
	Exists   bool    `json:"exists"`
	IsSocket bool    `json:"is_socket"`
	OwnerUID *int    `json:"owner_uid"` // of the socket file
	Accepts  bool    `json:"accepts"`   // a connection was accepted; nothing was sent
	PeerUID  *int    `json:"peer_uid"`  // the server's uid (SO_PEERCRED)
	Trusted  bool    `json:"trusted"`   // run would send the token there
	Error    *string `json:"error"`
	// Ack is what run waits for after sending: "auto", an OK or a close
	// once the message is read; "ok", the bot's reply OK (delivered means
	// acknowledged); "none", no reply (delivered means written whole).
	// Status itself sends nothing.
	Ack string `json:"ack"`
	// LastReply is what the socket did with the token in the last run, as
	// its metrics file says (Options.MetricsFile): "ok", "closed", "none"
	// or "failed"; "" when unknown.
	LastReply string `json:"last_reply"`
}

// Check looks at the token file, its lock and the sockets without
// changing any of them: the lock is only tried, shared and non-blocking,
// and released at once; sockets are connected to and closed unwritten.
func Check(ctx context.Context, o Options) *Report {
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	o.Timeout = o.timeout()
	st := &Report{
		CheckedAt:     rfc3339(now.Unix()),
		CheckedAtUnix: now.Unix(),
		Problems:      []string{},
		Warnings:      []string{},
		Sockets:       []Socket{},
	}
	problem := func(code int, format string, args ...any) {
		st.Problems = append(st.Problems, fmt.Sprintf(format, args...))
		if severity(code) > severity(st.ExitCode) {
			st.ExitCode = code
		}
	}
	warn := func(format string, args ...any) {
		st.Warnings = append(st.Warnings, fmt.Sprintf(format, args...))
	}

	st.TokenFile = fileStatus(o.TokenFile)
	if st.TokenFile.ReadableByOthers {
		warn("token file %s is readable by group or others (mode %s); run chmod 600 on it", o.TokenFile, st.TokenFile.Mode)
	}
	if dir := filepath.Dir(o.TokenFile); writableByOthers(dir) {
		warn("token file directory %s is writable by group or others: they could plant files where runs write the token file and its lock; run chmod go-w on it, or move the token file to a directory of its own", dir)
	}
	f, err := store.ReadTokenFile(ctx, o.TokenFile, o.Log)
	if err != nil {
		msg := err.Error()
		st.TokenFile.Error = &msg
		if hint := exit.Hint(err); hint != "" {
			msg += "; " + hint
		}
		problem(exit.Code(err), "%s", msg)
	} else {
		st.AccessToken = accessStatus(f.Token, now)
		st.RefreshToken = refreshStatus(f, now)
		a, r := st.AccessToken, st.RefreshToken
		switch {
		case f.Token.ExpiresAt == 0:
			problem(exit.TempFail, "access token has no expires_at: treated as expired; run refresh-token")
		case a.Expired:
			problem(exit.TempFail, "access token expired %s ago: refreshes are not happening; check the timer and the log", human.Duration(-secs(a.RemainingSeconds)))
		}
		switch {
		case !r.Known:
			warn("token file has no creation_timestamp: the refresh token's age, and so the 7-day login deadline, is unknown")
		case secs(*r.AgeSeconds) < -store.RecentlyIssued:
			warn("token file's creation_timestamp is %s in the future (clock moved backwards?): the 7-day login deadline cannot be told", human.Duration(-secs(*r.AgeSeconds)))
		case r.Expired:
			problem(exit.NoPerm, "refresh token is %s old, past Schwab's 7-day limit; %s", human.Duration(secs(*r.AgeSeconds)), oauth.LoginHint)
		case secs(*r.AgeSeconds) >= store.LoginWarnAge:
			warn("refresh token is %s old: Schwab expires it in about %s; run 'refresh-token login' soon", human.Duration(secs(*r.AgeSeconds)), human.Duration(secs(*r.RemainingSeconds)))
		}
	}

	st.Lock = lockStatus(o.TokenFile)
	if st.Lock.State == LockUnknown {
		warn("cannot tell whether a run holds the lock: %s", *st.Lock.Error)
	}

	last := lastReplies(o.MetricsFile)
	for _, path := range o.Sockets {
		s := socketStatus(deliver.Probe(ctx, path, o.TrustUIDs, o.Timeout))
		s.Ack = string(o.ack())
		s.LastReply = last[path]
		st.Sockets = append(st.Sockets, s)
		switch {
		case s.Exists && !s.IsSocket:
			problem(exit.NoPerm, "%s is not a socket: run would refuse to send the token there", path)
		case s.Accepts && !s.Trusted && s.PeerUID != nil:
			problem(exit.NoPerm, "bot socket %s is served by uid %d, which is not trusted: run would refuse to send the token (someone may be squatting the socket; trust the bot's uid with --trust-uid)", path, *s.PeerUID)
		case !s.Exists:
			warn("bot socket %s not found: the trading bot may not be running", path)
		case !s.Accepts:
			warn("bot socket %s does not accept connections: %s", path, *s.Error)
		}
	}
	st.Healthy = st.ExitCode == exit.OK
	return st
}

// ack is what run expects the bot to answer: Ack, or run's default.
func (o Options) ack() deliver.Ack {
	if o.Ack == "" {
		return deliver.AckAuto
	}
	return o.Ack
}

// replyLine is one socket's answer in a run's metrics file.
var replyLine = regexp.MustCompile(`^refresh_token_delivery_reply\{socket=("(?:[^"\\]|\\.)*"),reply="(ok|closed|none|failed)"\} 1$`)

// lastReplies reads what each socket did with the token in the last run
// from its metrics file, if there is one: socket path to reply.
func lastReplies(metricsFile string) map[string]string {
	out := map[string]string{}
	if metricsFile == "" {
		return out
	}
	f, err := store.OpenRegular(metricsFile, os.O_RDONLY, 0, true)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 1<<20))
	for sc.Scan() {
		if m := replyLine.FindStringSubmatch(sc.Text()); m != nil {
			if path, err := strconv.Unquote(m[1]); err == nil {
				out[path] = m[2]
			}
		}
	}
	return out
}

var lastReplyText = map[string]string{
	"ok":     "answered OK",
	"closed": "read the token and closed without a reply (TokenReceiver)",
	"none":   "the token was written whole (--ack=none)",
	"failed": "NOT DELIVERED",
}

// defaultTimeout is the wait per socket when Options.Timeout is not set.
const defaultTimeout = 5 * time.Second

// timeout is the wait per socket: Timeout, or defaultTimeout for zero or
// less.
func (o Options) timeout() time.Duration {
	if o.Timeout <= 0 {
		return defaultTimeout
	}
	return o.Timeout
}

// severity orders the exit codes of status: a file problem hides the rest,
// a dead refresh token explains an expired access token.
func severity(code int) int {
	switch code {
	case exit.OK:
		return 0
	case exit.TempFail:
		return 1
	case exit.NoPerm:
		return 2
	}
	return 3
}

func fileStatus(path string) File {
	s := File{Path: path}
	fi, err := os.Stat(path)
	if err != nil {
		return s
	}
	s.Exists = true
	s.Mode = fmt.Sprintf("%04o", fi.Mode().Perm())
	s.ReadableByOthers = fi.Mode().Perm()&0o044 != 0
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		uid, gid := int(sys.Uid), int(sys.Gid)
		s.OwnerUID, s.OwnerGID = &uid, &gid
		if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
			s.Owner = u.Username
		}
	}
	return s
}

func accessStatus(t store.Token, now time.Time) *Access {
	issued, expires := t.Issued().Unix(), t.Expiry().Unix()
	left := expires - now.Unix()
	return &Access{
		IssuedAt:         rfc3339(issued),
		IssuedAtUnix:     issued,
		ExpiresAt:        rfc3339(expires),
		ExpiresAtUnix:    expires,
		LifetimeSeconds:  expires - issued,
		RemainingSeconds: left,
		Expired:          left <= 0,
	}
}

func refreshStatus(f *store.TokenFile, now time.Time) *Refresh {
	if f.CreationTimestamp == 0 {
		return &Refresh{}
	}
	created := f.Created().Unix()
	expires := created + int64(store.RefreshLifetime/time.Second)
	age := now.Unix() - created
	left := expires - now.Unix()
	return &Refresh{
		Known:            true,
		CreatedAt:        ptr(rfc3339(created)),
		CreatedAtUnix:    &created,
		AgeSeconds:       &age,
		ExpiresAt:        ptr(rfc3339(expires)),
		ExpiresAtUnix:    &expires,
		RemainingSeconds: &left,
		Expired:          left <= 0,
	}
}

// writableByOthers reports whether users other than the owner of dir, the
// token file's directory, may create files in it: they could plant a file
// or symlink where a run writes (a sticky bit, as on /tmp, does not stop
// them taking a name before the run does).
func writableByOthers(dir string) bool {
	fi, err := os.Stat(dir)
	return err == nil && fi.Mode().Perm()&0o022 != 0
}

func socketStatus(p deliver.ProbeResult) Socket {
	s := Socket{Path: p.Path, Exists: p.Exists, IsSocket: p.IsSocket, Accepts: p.Accepts, Trusted: p.Trusted}
	if p.OwnerUID >= 0 {
		s.OwnerUID = ptr(p.OwnerUID)
	}
	if p.PeerUID >= 0 {
		s.PeerUID = ptr(p.PeerUID)
	}
	if p.Err != nil {
		s.Error = ptr(p.Err.Error())
	}
	return s
}

// WriteText prints the report for a person: one aligned label and value a
// line, plain text with no colour, so it reads the same in a pipe or a log.
func (st *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(label, format string, args ...any) {
		// Paths and errors come from the operator and the file system: a
		// control character in them must not reach the terminal.
		fmt.Fprintf(tw, "%s\t%s\n", label, human.Clean(fmt.Sprintf(format, args...)))
	}
	f := st.TokenFile
	row("Token file", "%s", f.Path)
	if f.Exists {
		row("  mode", "%s, owner %s", f.Mode, owner(f.Owner, f.OwnerUID))
	}
	if f.Error != nil {
		row("  error", "%s", *f.Error)
	}
	if a := st.AccessToken; a != nil {
		if a.Expired {
			row("Access token", "EXPIRED %s ago", human.Duration(-secs(a.RemainingSeconds)))
		} else {
			row("Access token", "valid, expires in %s", human.Duration(secs(a.RemainingSeconds)))
		}
		row("  issued", "%s", localTime(a.IssuedAtUnix))
		row("  expires", "%s", localTime(a.ExpiresAtUnix))
	}
	if r := st.RefreshToken; r != nil {
		switch {
		case !r.Known:
			row("Refresh token", "age unknown (no creation_timestamp)")
		case *r.AgeSeconds < 0:
			row("Refresh token", "created %s in the future (clock moved backwards?)", human.Duration(-secs(*r.AgeSeconds)))
		case r.Expired:
			row("Refresh token", "EXPIRED: %s old, past the 7-day limit by %s", human.Duration(secs(*r.AgeSeconds)), human.Duration(-secs(*r.RemainingSeconds)))
		default:
			row("Refresh token", "%s old, about %s left", human.Duration(secs(*r.AgeSeconds)), human.Duration(secs(*r.RemainingSeconds)))
		}
		if r.Known {
			row("  created", "%s", localTime(*r.CreatedAtUnix))
			row("  expires about", "%s", localTime(*r.ExpiresAtUnix))
		}
	}
	switch st.Lock.State {
	case LockHeld:
		row("Lock", "held: a refresh-token run is in progress (%s)", st.Lock.Path)
	case LockFree:
		row("Lock", "free (%s)", st.Lock.Path)
	default:
		row("Lock", "unknown (%s)", st.Lock.Path)
	}
	for _, s := range st.Sockets {
		row("Bot socket", "%s", s.Path)
		row("  state", "%s", socketState(s))
		switch deliver.Ack(s.Ack) {
		case deliver.AckNone:
			row("  reply", "none expected (--ack=none): run counts a message written whole as sent")
		case deliver.AckAuto:
			row("  reply", "OK, or a close once the message is read (--ack=auto): run counts either as delivered")
		default:
			row("  reply", "OK expected (--ack=ok): run counts the token delivered when acknowledged")
		}
		if s.LastReply != "" {
			row("  last run", "%s", lastReplyText[s.LastReply])
		}
	}
	for _, p := range st.Problems {
		row("Problem", "%s", p)
	}
	for _, p := range st.Warnings {
		row("Warning", "%s", p)
	}
	if st.Healthy {
		row("Status", "healthy")
	} else {
		row("Status", "UNHEALTHY (exit %d)", st.ExitCode)
	}
	return tw.Flush()
}

func socketState(s Socket) string {
	switch {
	case !s.Exists:
		return "absent: the bot is not running"
	case !s.IsSocket:
		return "not a socket"
	case !s.Accepts:
		return fmt.Sprintf("does not accept connections (%s)", deref(s.Error))
	case s.PeerUID == nil:
		return fmt.Sprintf("accepts connections; server uid unknown (%s)", deref(s.Error))
	case s.Trusted:
		return fmt.Sprintf("accepts connections, server uid %d, trusted", *s.PeerUID)
	}
	return fmt.Sprintf("accepts connections, server uid %d, NOT TRUSTED", *s.PeerUID)
}

func owner(name string, uid *int) string {
	switch {
	case uid == nil:
		return "unknown"
	case name == "":
		return fmt.Sprintf("uid %d", *uid)
	}
	return fmt.Sprintf("%s (uid %d)", name, *uid)
}

func localTime(unix int64) string {
	return time.Unix(unix, 0).Format("2006-01-02 15:04:05 MST")
}

func rfc3339(unix int64) string { return time.Unix(unix, 0).UTC().Format(time.RFC3339) }

// secs converts seconds to a Duration, saturating where it cannot hold them.
func secs(s int64) time.Duration {
	const limit = math.MaxInt64 / int64(time.Second)
	return time.Duration(min(max(s, -limit), limit)) * time.Second
}

func ptr[T any](v T) *T { return &v }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return strings.TrimSpace(*s)
}

// lockStatus says whether a run holds the lock now (store.LockHeld).
func lockStatus(tokenFile string) Lock {
	ls := Lock{Path: tokenFile + ".lock", State: LockFree}
	held, err := store.LockHeld(tokenFile)
	switch {
	case err != nil:
		ls.State, ls.Error = LockUnknown, ptr(err.Error())
	case held:
		ls.State = LockHeld
	}
	return ls
}
