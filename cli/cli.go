// Package cli is the refresh-token command line: its commands, flags, usage hints and log handler.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kong"

	"github.com/refresh-token/refresh-token/deliver"
	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/human"
	"github.com/refresh-token/refresh-token/login"
	"github.com/refresh-token/refresh-token/oauth"
	"github.com/refresh-token/refresh-token/refresh"
	"github.com/refresh-token/refresh-token/status"
	"github.com/refresh-token/refresh-token/store"
)

const description = `Refresh the Schwab OAuth token, write it atomically and durably, and push it to the trading bot.

Run by a systemd timer every 25 minutes, by cron, or by hand. Each command's --help lists the flags it takes: 'refresh-token run --help' the refresh and delivery flags. Once a week, 'refresh-token login' renews the refresh token in a browser ('refresh-token login --help'). Every flag can also be set by an environment variable: REFRESH_TOKEN_ + the flag name in upper snake case (--token-file: REFRESH_TOKEN_TOKEN_FILE); a flag on the command line wins.

Exit codes of run, deliver and login (sysexits; status has its own, listed by 'refresh-token status --help'):
  0   refreshed, or skipped by a guard; logged in
  64  usage error
  65  token file unreadable: not JSON, wrong shape, no refresh_token, a Schwabdev SQLite database
  66  token file or app config not found or not readable
  70  internal error
  73  token file could not be written (the new token is still delivered)
  75  temporary: network, timeout, 5xx/429/HTML, malformed response, lock busy, delivery failed with --require-delivery; login: no login in time, interrupted, callback port busy
  77  Schwab rejected the refresh token or app credentials (run 'refresh-token login'); untrusted bot socket; login: denied, code refused, callback port refused
  78  app config invalid (login: callback_url not https on 127.0.0.1); plain-http token URL off loopback`

// CLI is the refresh-token command line. Each flag lives on the commands
// that use it, so that each command's --help lists only what it reads; the
// flags of every command are here, the delivery flags are shared by the
// commands that push a token.
type CLI struct {
	Version versionFlag `env:"-" short:"v" help:"Print the version, commit and Go version, then exit."`

	TokenFile string `default:"configs/schwab_tokens.json" placeholder:"PATH" help:"The token file (schwab-py format). Default: ${default}."`
	LogLevel  string `default:"info" enum:"debug,info,warn,error" help:"Log level: debug, info, warn, error."`
	LogFormat string `default:"text" enum:"text,json" help:"Log format: text or json."`

	Run     RunCmd     `cmd:"" default:"withargs" help:"Refresh the token, write it and deliver it (the default command)."`
	Deliver DeliverCmd `cmd:"" help:"Push the token file to the bot as it is, without refreshing (for the bot's ExecStartPost=)."`
	Status  StatusCmd  `cmd:"" help:"Report the token file, the access and refresh tokens, the lock and the bot sockets; exit 0 when healthy."`
	Login   LoginCmd   `cmd:"" help:"Log in to Schwab in a browser (every week: the refresh token lives 7 days), write a new token file and deliver it."`
	Ver     VersionCmd `cmd:"" name:"version" help:"Print the version, commit and Go version (as --version)."`
}

// VersionCmd prints the version, as --version does.
type VersionCmd struct{}

// Run prints the version.
func (VersionCmd) Run(b Build, e *env) error {
	fmt.Fprintln(e.stdout, b.String())
	return nil
}

// LoginCmd is the weekly browser login (package login).
type LoginCmd struct {
	AppConfig       string        `default:"configs/schwab_app_config.yaml" placeholder:"PATH" help:"YAML with app_key, app_secret and callback_url (https on 127.0.0.1, e.g. https://127.0.0.1:8182); $$CREDENTIALS_DIRECTORY/app_key and app_secret override the first two. Default: ${default}."`
	TokenURL        string        `name:"token-url" default:"${token_url}" placeholder:"URL" help:"Token endpoint; https only, plain http for loopback alone. Default: ${default}."`
	AuthorizeURL    string        `name:"authorize-url" default:"${authorize_url}" placeholder:"URL" help:"Where the browser login starts; https only, plain http for loopback alone. Default: ${default}."`
	CallbackTimeout time.Duration `default:"5m" placeholder:"DUR" help:"How long to wait for the browser to come back from the login. Default: ${default}."`
	Manual          bool          `help:"Listen on nothing: paste the URL the browser was sent to after the login (the page that fails to load) on standard input. For a headless host without ssh -L, or a callback port below 1024."`
	NoBrowser       bool          `help:"Do not open a browser; only print the URL. A browser opens only when there is a display and a terminal."`
	HTTPTimeout     time.Duration `name:"http-timeout" default:"30s" placeholder:"DUR" help:"Timeout of one token request. Default: ${default}."`
	LockTimeout     time.Duration `default:"20s" placeholder:"DUR" help:"Once the browser is back, how long to wait for a run's lock before the code is exchanged; a code lives about 30 seconds, so a run still busy then means logging in again. Default: ${default}."`
	MetricsFile     string        `placeholder:"PATH" help:"After the login, write Prometheus metrics to PATH, as run does; empty disables."`
	LogFileFlag     `embed:""`
	DeliveryFlags   `embed:""`
}

// Run is the browser login.
func (c *LoginCmd) Run(cli *CLI, e *env) error {
	res, err := login.Run(e.ctx, login.Options{
		TokenFile:       cli.TokenFile,
		AppConfig:       c.AppConfig,
		CredentialsDir:  os.Getenv("CREDENTIALS_DIRECTORY"),
		TokenURL:        c.TokenURL,
		AuthorizeURL:    c.AuthorizeURL,
		HTTPTimeout:     c.HTTPTimeout,
		LockTimeout:     c.LockTimeout,
		CallbackTimeout: c.CallbackTimeout,
		Manual:          c.Manual,
		NoBrowser:       c.NoBrowser,
		Delivery:        c.delivery(),
		CallbackTrust:   append(sudoUID(), c.TrustUID...),
		Log:             e.log,
		Stdin:           e.stdin,
		Stdout:          e.stdout,
		Started:         e.startLog,
	})
	if c.MetricsFile != "" {
		m := refresh.MetricsRun{Result: res, ExitCode: exit.Code(err), TokenFile: cli.TokenFile, End: time.Now()}
		if merr := refresh.WriteMetrics(c.MetricsFile, m); merr != nil {
			e.log.Warn(fmt.Sprintf("Cannot write metrics: %v", merr))
		}
	}
	return err
}

// sudoUID is the uid of the person who ran sudo, whose browser or ssh -L
// brings the login's callback: $SUDO_UID, when it is a uid.
func sudoUID() []int {
	if uid, err := strconv.Atoi(os.Getenv("SUDO_UID")); err == nil && uid >= 0 {
		return []int{uid}
	}
	return nil
}

// SocketFlags name the bot's sockets and whom to trust there: status probes
// them, run and deliver send to them.
type SocketFlags struct {
	Socket        []string      `default:"/tmp/bigbrother_token.sock" placeholder:"PATH" help:"The bot's Unix socket; repeat for several bots. Default: ${default}."`
	SocketTimeout time.Duration `default:"5s" placeholder:"DUR" help:"Per attempt on a socket: connect, then (run, deliver, login) send and acknowledgement (with --ack=none, the wait of at most 1s for the bot to close). Default: ${default}."`
	TrustUID      []int         `name:"trust-uid" placeholder:"UID" help:"A uid trusted besides root and our own: the owner of a bot socket, and for login a user whose connection the callback serves (yours, when sudo runs the login as the bot's user; $$SUDO_UID is trusted already). Repeatable."`
	Ack           string        `default:"auto" enum:"auto,ok,none" placeholder:"auto|ok|none" help:"What the bot answers. auto serves both of its receivers: after the message it waits up to --socket-timeout, connection open; OK is delivered, and so is a close without a reply once the message was read (TokenReceiver), never sent again (messages up to 4095 bytes). ok: only OK counts (the JSON receiver). none: a message written whole counts as sent, no wait for an answer (TokenReceiver; up to 8191 bytes). See ${docdir}/BOT.md. Default: ${default}."`
}

// DeliveryFlags say how a command that pushes a token to the bot does it.
type DeliveryFlags struct {
	SocketFlags     `embed:""`
	Retries         int           `default:"3" placeholder:"N" help:"Delivery attempts per socket. Default: ${default}."`
	RetryDelay      time.Duration `default:"5s" placeholder:"DUR" help:"Pause between delivery attempts. Default: ${default}."`
	RequireDelivery bool          `help:"A failed delivery exits 75 instead of 0."`
}

func (d *DeliveryFlags) delivery() deliver.Delivery {
	return deliver.Delivery{
		Sockets:    d.Socket,
		Retries:    d.Retries,
		RetryDelay: d.RetryDelay,
		Timeout:    d.SocketTimeout,
		TrustUIDs:  d.TrustUID,
		Ack:        deliver.Ack(d.Ack),
		Require:    d.RequireDelivery,
	}
}

// LogFileFlag is the log file of the commands that keep one.
type LogFileFlag struct {
	LogFile string `default:"logs/token_refresh_sender.log" placeholder:"PATH" help:"Log file, appended to (0600), created with its directory once the command has its inputs; empty disables it. Default: ${default}."`
}

func (l *LogFileFlag) logFile() string { return l.LogFile }

// RunCmd is the refresh cycle.
type RunCmd struct {
	AppConfig       string        `default:"configs/schwab_app_config.yaml" placeholder:"PATH" help:"YAML with app_key and app_secret; $$CREDENTIALS_DIRECTORY/app_key and app_secret override it. Default: ${default}."`
	TokenURL        string        `name:"token-url" default:"${token_url}" placeholder:"URL" help:"Token endpoint; https only, plain http for loopback alone. Default: ${default}."`
	HTTPTimeout     time.Duration `name:"http-timeout" default:"30s" placeholder:"DUR" help:"Timeout of one token request. Default: ${default}."`
	LockTimeout     time.Duration `default:"30s" placeholder:"DUR" help:"How long to wait for another run's lock; 0 tries once. Default: ${default}."`
	IfExpiresWithin time.Duration `default:"0" placeholder:"DUR" help:"Refresh only when the access token expires within DUR; 0 refreshes on every run."`
	Force           bool          `help:"Refresh even when a guard would skip."`
	MetricsFile     string        `placeholder:"PATH" help:"After every run, success or failure, write Prometheus metrics to PATH for node_exporter's textfile collector (e.g. /var/lib/prometheus/node-exporter/refresh_token.prom); empty disables."`
	LogFileFlag     `embed:""`
	DeliveryFlags   `embed:""`
}

// DeliverCmd pushes the current token without refreshing.
type DeliverCmd struct {
	LogFileFlag   `embed:""`
	DeliveryFlags `embed:""`
}

// env is what every command gets from Main.
type env struct {
	ctx    context.Context
	log    *slog.Logger
	stdin  io.Reader
	stdout io.Writer
	// startLog opens the log file, once the command has its inputs: a
	// command that fails at once leaves nothing behind. Records logged
	// before it are written to the file then.
	startLog func()
}

// Run performs one refresh cycle.
func (c *RunCmd) Run(cli *CLI, e *env) error {
	res, err := refresh.Run(e.ctx, refresh.Options{
		TokenFile:       cli.TokenFile,
		AppConfig:       c.AppConfig,
		CredentialsDir:  os.Getenv("CREDENTIALS_DIRECTORY"),
		TokenURL:        c.TokenURL,
		HTTPTimeout:     c.HTTPTimeout,
		LockTimeout:     c.LockTimeout,
		IfExpiresWithin: c.IfExpiresWithin,
		Force:           c.Force,
		Delivery:        c.delivery(),
		Log:             e.log,
		Started:         e.startLog,
	})
	if c.MetricsFile != "" {
		m := refresh.MetricsRun{Result: res, ExitCode: exit.Code(err), TokenFile: cli.TokenFile, End: time.Now()}
		if merr := refresh.WriteMetrics(c.MetricsFile, m); merr != nil {
			e.log.Warn(fmt.Sprintf("Cannot write metrics file %s: %v", c.MetricsFile, merr),
				"hint", "--metrics-file needs an existing directory writable by this user, and a regular file or nothing at its path; leave it empty to write no metrics")
		}
	}
	return err
}

// Run pushes the token file as it is. An expired access token is not pushed.
func (c *DeliverCmd) Run(cli *CLI, e *env) error {
	f, err := store.ReadTokenFile(e.ctx, cli.TokenFile, e.log)
	if err != nil {
		return err
	}
	e.startLog()
	if ago := time.Since(f.Token.Expiry()); ago >= 0 {
		return exit.Fail(exit.TempFail, "run refresh-token first, then deliver",
			"access token in %s expired %s ago: not pushed", cli.TokenFile, human.Duration(ago))
	}
	_, err = refresh.Deliver(e.ctx, f.Token, c.delivery(), e.log)
	return err
}

// Build identifies the binary for --version.
type Build struct {
	Version, Commit string
	// DocDir is where the documentation is installed, named in --help and
	// the man page; empty means the package's /usr/share/doc/refresh-token.
	DocDir string
}

// DefaultDocDir is where the .deb installs the documentation.
const DefaultDocDir = "/usr/share/doc/refresh-token"

func (b Build) docDir() string {
	if b.DocDir == "" {
		return DefaultDocDir
	}
	return b.DocDir
}

func (b Build) String() string { return b.describe(debug.ReadBuildInfo()) }

// describe is String with the build info passed in, for tests: a test
// binary carries neither a module version nor a VCS revision.
func (b Build) describe(info *debug.BuildInfo, ok bool) string {
	v, c := b.Version, b.Commit
	if ok {
		if v == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && c == "" {
				c = s.Value
			}
		}
	}
	v = strings.TrimPrefix(v, "v")
	if v == "" || c != "" && (strings.HasPrefix(c, v) || strings.HasPrefix(v, c)) {
		v = "devel" // a version that is the commit says nothing twice
	}
	if c == "" {
		c = "unknown"
	}
	return fmt.Sprintf("refresh-token %s (commit %s, %s)", v, c, runtime.Version())
}

// versionFlag prints the version and exits. Unlike kong.VersionFlag, which
// needs the string in kong.Vars, it builds the string only when the flag is
// given: every run would otherwise read the build info and kong would
// interpolate the string into the model of every flag, work a refresh does
// not need.
type versionFlag bool

// BeforeReset is kong's hook for a flag that was given.
func (versionFlag) BeforeReset(app *kong.Kong, b Build) error {
	fmt.Fprintln(app.Stdout, b.String())
	app.Exit(0)
	return nil
}

// exit carries kong's exit code out of a parse through panic, so that help
// and --version return from Main instead of ending the process.
type exitPanic int

func newParser(cli *CLI, b Build, stdout, stderr io.Writer) (*kong.Kong, error) {
	return kong.New(cli,
		kong.Name("refresh-token"),
		kong.Description(description),
		kong.Vars{"token_url": oauth.DefaultTokenURL, "authorize_url": oauth.DefaultAuthorizeURL, "docdir": b.docDir()},
		kong.Bind(b),
		kong.DefaultEnvars("REFRESH_TOKEN"),
		kong.Writers(stdout, stderr),
		kong.Exit(func(c int) { panic(exitPanic(c)) }),
	)
}

// Main runs the command line and returns the exit code. It never calls
// os.Exit, so deferred clean-up runs and tests can call it.
func Main(b Build, args []string, stdout, stderr io.Writer) (code int) {
	var cli CLI
	parser, err := newParser(&cli, b, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "refresh-token: error: %v\n", err)
		return exit.Software
	}
	defer func() {
		if r := recover(); r != nil {
			c, ok := r.(exitPanic)
			if !ok {
				panic(r)
			}
			code = int(c)
		}
	}()
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "refresh-token: error: %v\n", err)
		fmt.Fprintf(stderr, "refresh-token: hint: %s\n", usageHint(err))
		return exit.Usage
	}

	level, err := ParseLevel(cli.LogLevel)
	if err != nil { // unreachable: kong checked the enum
		fmt.Fprintf(stderr, "refresh-token: error: %v\n", err)
		return exit.Usage
	}
	logFile := "" // status keeps no log file: it is a read-only report
	if lf, ok := kctx.Selected().Target.Addr().Interface().(interface{ logFile() string }); ok {
		logFile = lf.logFile()
	}
	log, closeLog, startLog := newLogger(LogOptions{Level: level, JSON: cli.LogFormat == "json", File: logFile, Stderr: stderr})
	defer closeLog()
	for _, w := range unknownEnv(parser.Model, os.Environ()) {
		log.Warn(w)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = runInterruptible(ctx, func() error {
		return kctx.Run(&cli, &env{ctx: ctx, log: log, stdin: os.Stdin, stdout: stdout, startLog: startLog})
	})
	if err == nil {
		return exit.OK
	}
	code = exit.Code(err)
	if errors.As(err, new(reported)) {
		return code
	}
	if ctx.Err() != nil && code != exit.OK {
		err = fmt.Errorf("interrupted: %w", err)
	}
	attrs := []any{}
	if hint := exit.Hint(err); hint != "" {
		attrs = append(attrs, "hint", hint)
	}
	attrs = append(attrs, "exit", code)
	log.Error(err.Error(), attrs...)
	return code
}

// interruptGrace is how long a command may take to stop once SIGTERM or
// SIGINT cancelled its context. Every wait of a run watches the context,
// and every file is opened without blocking, so it needs milliseconds;
// the grace is the backstop for a wait that does not: a signal must end
// the run at any point, or a stuck run blocks every later one of the timer.
var interruptGrace = 3 * time.Second

// runInterruptible runs fn and returns its error, or, when ctx is cancelled
// and fn has not returned within interruptGrace, a temporary failure that
// lets Main return while fn is still stuck. The lock is released with the
// process; a temp file left behind is removed by the next run.
func runInterruptible(ctx context.Context, fn func() error) error {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	t := time.NewTimer(interruptGrace)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return exit.Fail(exit.TempFail, "the next run tries again; report a bug if this repeats",
			"did not stop within %s of the signal: abandoned", interruptGrace)
	}
}

// usageHint says where the help for a parse error is: the --help of the
// command that was given, else of the command that owns the flag in the
// error (run's flags may come without the command name: it is the
// default). A flag of another command given before its name is the
// newcomer's mistake: it goes after the name.
func usageHint(err error) string {
	var pe *kong.ParseError
	if !errors.As(err, &pe) || pe.Context == nil {
		return "see 'refresh-token --help'" // it lists the commands
	}
	if strings.HasPrefix(err.Error(), "unexpected argument") {
		if h := commandHint(pe.Context.Model, err); h != "" {
			return h
		}
		return "see 'refresh-token --help'" // it lists the commands
	}
	if n := pe.Context.Selected(); n != nil {
		return "see 'refresh-token " + n.Path() + " --help'"
	}
	name := flagName.FindString(err.Error())
	if m := misplaced.FindStringSubmatch(err.Error()); m != nil {
		for _, n := range pe.Context.Model.Children {
			if n.Name == m[1] && hasFlag(n, name) {
				return fmt.Sprintf("give %s after the command: 'refresh-token %s %s ...'", name, n.Name, name)
			}
		}
	}
	for _, n := range pe.Context.Model.Children {
		if hasFlag(n, name) {
			return "see 'refresh-token " + n.Name + " --help'"
		}
	}
	if strings.HasPrefix(err.Error(), "unknown flag") {
		return "see 'refresh-token run --help'" // run takes the flags that are not global
	}
	return "see 'refresh-token --help'"
}

func hasFlag(n *kong.Node, name string) bool {
	for _, f := range n.Flags {
		if "--"+f.Name == name {
			return true
		}
	}
	return false
}

// misplaced is kong's error for a flag before the name of a command other
// than the default.
var misplaced = regexp.MustCompile(`applies to the default command "run", not "(\w+)"`)

var flagName = regexp.MustCompile(`--[a-z][a-z0-9-]*`)

// Help is the detail of 'refresh-token login --help'.
func (c *LoginCmd) Help() string {
	return `Schwab ends the refresh token about 7 days after the browser login that issued it; run this once a week (runs warn from 6.5 days, and status shows the age). It reads app_key, app_secret and callback_url from --app-config. callback_url must be the app's registered callback URL, https on 127.0.0.1, e.g. https://127.0.0.1:8182; without a port it means 443, which needs privileges.

It listens on the callback URL's port over HTTPS, with a certificate made in memory for this login alone, then prints the authorization URL on a line of its own and the certificate's SHA-256 fingerprint, and opens a browser when there is a display and a terminal (--no-browser: never). Log in and press Allow; the browser warns about the certificate (check the fingerprint, then proceed) and comes back with a code, which is exchanged at once. A redirect with the wrong state is refused and never exchanged.

The new token file, {"creation_timestamp": <now>, "token": {<every field of Schwab's answer>, "expires_at"}}, is written under the run lock, atomically and durably; an existing file's mode and owner are kept, a new one is 0600. Until then the old file is untouched: a failed, denied or interrupted login leaves it as it was. The new token is then delivered to every --socket as run delivers it, and a summary says until when the tokens are valid and when to log in next.

The callback serves only connections from our own uid, root and $SUDO_UID (the person who ran sudo, whose browser or ssh -L connects), and each --trust-uid: on Linux the uid of each connection is read from the kernel's table (/proc/net/tcp), and any other local user's connection is closed before a byte is read, with one WARN naming the uid. Where /proc/net cannot be read the login says so once and serves every local connection.

On a remote server, forward the callback port from the machine with the browser: ssh -L 8182:127.0.0.1:8182 <server>, then open the URL there. Or use --manual: paste the address the browser was sent to (the page that fails to load) at the prompt, within about 30 seconds, before the code expires.

Exit codes:
  0   logged in, the token file written
  66  app config or the token file's directory not found
  73  the new token file could not be written (the new token is still delivered)
  75  no login within --callback-timeout, interrupted, callback port busy, temporary failure of the token endpoint, lock busy
  77  the login was denied, or Schwab refused its code or the app credentials; binding a callback port below 1024 was refused; untrusted bot socket
  78  callback_url not https on 127.0.0.1, app config invalid, plain-http URL off loopback`
}

// StatusCmd reports the token file, the lock and the bot's sockets.
type StatusCmd struct {
	JSON        bool   `name:"json" help:"Print the report as JSON (its schema: ${docdir}/status.md)."`
	MetricsFile string `placeholder:"PATH" help:"Run's metrics file, read for what each socket did with the token in the last run; empty reads none."`
	SocketFlags `embed:""`
}

// Help is the detail of 'refresh-token status --help'.
func (c *StatusCmd) Help() string {
	return `status changes nothing: the lock is only tried (shared, non-blocking, released at once), and each --socket is looked up in the kernel's tables (the process that listens there, and its uid), or, where that cannot be told, connected to and closed without sending a byte. No log file is written. The report is plain text, aligned, with no colour; --json prints the same as a stable JSON object.

Exit codes of status:
  0   healthy (warnings, if any, are printed)
  65  token file unreadable: not JSON, wrong shape, no refresh_token, a Schwabdev SQLite database
  66  token file not found or not readable
  75  access token expired: refreshes are not happening
  77  refresh token past Schwab's 7-day limit (run 'refresh-token login'); a --socket that run would refuse (untrusted server uid, not a socket)`
}

// Run prints the report. The exit code says whether the bot has a good
// token: 0 healthy, 75 access token expired, 77 refresh token past 7 days
// or an untrusted bot socket, 65/66 token file unreadable or missing.
func (c *StatusCmd) Run(cli *CLI, e *env) error {
	st := status.Check(e.ctx, status.Options{
		TokenFile:   cli.TokenFile,
		Sockets:     c.Socket,
		TrustUIDs:   c.TrustUID,
		Timeout:     c.SocketTimeout,
		Ack:         deliver.Ack(c.Ack),
		Log:         e.log,
		MetricsFile: c.MetricsFile,
	})
	var err error
	if c.JSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(st)
	} else {
		err = st.WriteText(e.stdout)
	}
	if err != nil {
		return exit.Fail(exit.Software, "", "write status: %w", err)
	}
	if st.ExitCode != exit.OK {
		return reported(st.ExitCode)
	}
	return nil
}

// reported is an exit code whose reason the command already printed; Main
// returns it without logging an error line.
type reported int

func (r reported) Error() string { return fmt.Sprintf("exit %d", int(r)) }
func (r reported) ExitCode() int { return int(r) }
