package refresh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/alecthomas/kong"

	"github.com/refresh-token/refresh-token/deliver"
	"github.com/refresh-token/refresh-token/refresh/oauth"
)

const description = `Refresh the Schwab OAuth token, write it atomically and durably, and push it to the trading bot.

Run by a systemd timer every 25 minutes, by cron, or by hand. 'refresh-token run --help' lists the refresh flags. Once a week, 'refresh-token login' renews the refresh token in a browser ('refresh-token login --help'). Every flag can also be set by an environment variable: REFRESH_TOKEN_ + the flag name in upper snake case (--token-file: REFRESH_TOKEN_TOKEN_FILE); a flag on the command line wins.

Exit codes (sysexits):
  0   refreshed, or skipped by a guard; logged in
  64  usage error
  65  token file unreadable: not JSON, wrong shape, no refresh_token, a Schwabdev SQLite database
  66  token file or app config not found
  70  internal error
  73  token file could not be written (the new token is still delivered)
  75  temporary: network, timeout, 5xx/429/HTML, malformed response, lock busy, delivery failed with --require-delivery; login: no login in time, interrupted, callback port busy
  77  Schwab rejected the refresh token or app credentials (run 'refresh-token login'); untrusted bot socket; login: denied, code refused, callback port refused
  78  app config invalid (login: callback_url not https on 127.0.0.1); plain-http token URL off loopback`

// CLI is the refresh-token command line.
type CLI struct {
	Version versionFlag `env:"-" help:"Print the version, commit and Go version, then exit."`

	TokenFile string `default:"configs/schwab_tokens.json" placeholder:"PATH" help:"The token file (schwab-py format). Default: ${default}."`
	LogFile   string `default:"logs/token_refresh_sender.log" placeholder:"PATH" help:"Log file, appended to (0600); empty disables it. Default: ${default}."`
	LogLevel  string `default:"info" enum:"debug,info,warn,error" help:"Log level: debug, info, warn, error."`
	LogFormat string `default:"text" enum:"text,json" help:"Log format: text or json."`

	Socket          []string      `default:"/tmp/bigbrother_token.sock" placeholder:"PATH" help:"The bot's Unix socket; repeat for several bots. Default: ${default}."`
	Retries         int           `default:"3" placeholder:"N" help:"Delivery attempts per socket. Default: ${default}."`
	RetryDelay      time.Duration `default:"5s" placeholder:"DUR" help:"Pause between delivery attempts. Default: ${default}."`
	SocketTimeout   time.Duration `default:"5s" placeholder:"DUR" help:"Per delivery attempt: connect, send and acknowledgement (with --ack=none, the wait of at most 1s for the bot to close). Default: ${default}."`
	TrustUID        []int         `name:"trust-uid" placeholder:"UID" help:"Socket owner trusted besides root and our own uid; repeatable."`
	Ack             string        `default:"ok" enum:"ok,none" placeholder:"ok|none" help:"What the bot answers: ok, its JSON receiver replies OK (messages up to 4095 bytes); none, its TokenReceiver closes without a reply, so a message written whole counts as sent and is never sent again (up to 8191 bytes). See docs/BOT.md. Default: ${default}."`
	RequireDelivery bool          `help:"A failed delivery exits 75 instead of 0."`

	Run     RunCmd     `cmd:"" default:"withargs" help:"Refresh the token, write it and deliver it (the default command)."`
	Deliver DeliverCmd `cmd:"" help:"Push the token file to the bot as it is, without refreshing (for the bot's ExecStartPost=)."`
	Status  StatusCmd  `cmd:"" help:"Report the token file, the access and refresh tokens, the lock and the bot sockets; exit 0 when healthy."`
	Login   LoginCmd   `cmd:"" help:"Log in to Schwab in a browser (every week: the refresh token lives 7 days), write a new token file and deliver it."`
}

// LoginCmd is the weekly browser login (login.go).
type LoginCmd struct {
	AppConfig       string        `default:"configs/schwab_app_config.yaml" placeholder:"PATH" help:"YAML with app_key, app_secret and callback_url (https on 127.0.0.1, e.g. https://127.0.0.1:8182); $$CREDENTIALS_DIRECTORY/app_key and app_secret override the first two. Default: ${default}."`
	TokenURL        string        `name:"token-url" default:"${token_url}" placeholder:"URL" help:"Token endpoint; https only, plain http for loopback alone. Default: ${default}."`
	AuthorizeURL    string        `name:"authorize-url" default:"${authorize_url}" placeholder:"URL" help:"Where the browser login starts; https only, plain http for loopback alone. Default: ${default}."`
	CallbackTimeout time.Duration `default:"5m" placeholder:"DUR" help:"How long to wait for the browser to come back from the login. Default: ${default}."`
	Manual          bool          `help:"Listen on nothing: paste the URL the browser was sent to after the login (the page that fails to load) on standard input. For a headless host without ssh -L, or a callback port below 1024."`
	NoBrowser       bool          `help:"Do not open a browser; only print the URL. A browser opens only when there is a display and a terminal."`
	HTTPTimeout     time.Duration `name:"http-timeout" default:"30s" placeholder:"DUR" help:"Timeout of one token request. Default: ${default}."`
	LockTimeout     time.Duration `default:"6m" placeholder:"DUR" help:"How long to wait for a run's lock before writing the new token file (a run holds it for at most about 5 minutes). Default: ${default}."`
	MetricsFile     string        `placeholder:"PATH" help:"After the login, write Prometheus metrics to PATH, as run does; empty disables."`
}

// Run is the browser login.
func (c *LoginCmd) Run(cli *CLI, e *env) error {
	res, err := Login(e.ctx, LoginOptions{
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
		Delivery:        cli.delivery(),
		Log:             e.log,
		Stdin:           e.stdin,
		Stdout:          e.stdout,
	})
	if c.MetricsFile != "" {
		m := MetricsRun{Result: res, ExitCode: ExitCode(err), TokenFile: cli.TokenFile, End: time.Now()}
		if merr := WriteMetrics(c.MetricsFile, m); merr != nil {
			e.log.Warn(fmt.Sprintf("Cannot write metrics: %v", merr))
		}
	}
	return err
}

// RunCmd is the refresh cycle.
type RunCmd struct {
	AppConfig       string        `default:"configs/schwab_app_config.yaml" placeholder:"PATH" help:"YAML with app_key and app_secret; $$CREDENTIALS_DIRECTORY/app_key and app_secret override it. Default: ${default}."`
	TokenURL        string        `name:"token-url" default:"${token_url}" placeholder:"URL" help:"Token endpoint; https only, plain http for loopback alone. Default: ${default}."`
	HTTPTimeout     time.Duration `name:"http-timeout" default:"30s" placeholder:"DUR" help:"Timeout of one token request. Default: ${default}."`
	LockTimeout     time.Duration `default:"30s" placeholder:"DUR" help:"How long to wait for another run's lock. Default: ${default}."`
	IfExpiresWithin time.Duration `default:"0" placeholder:"DUR" help:"Refresh only when the access token expires within DUR; 0 refreshes on every run."`
	Force           bool          `help:"Refresh even when a guard would skip."`
	MetricsFile     string        `placeholder:"PATH" help:"After every run, success or failure, write Prometheus metrics to PATH for node_exporter's textfile collector (e.g. /var/lib/prometheus/node-exporter/refresh_token.prom); empty disables."`
}

// DeliverCmd pushes the current token without refreshing.
type DeliverCmd struct{}

// env is what every command gets from Main.
type env struct {
	ctx    context.Context
	log    *slog.Logger
	stdin  io.Reader
	stdout io.Writer
}

// Run performs one refresh cycle.
func (c *RunCmd) Run(cli *CLI, e *env) error {
	res, err := Run(e.ctx, Options{
		TokenFile:       cli.TokenFile,
		AppConfig:       c.AppConfig,
		CredentialsDir:  os.Getenv("CREDENTIALS_DIRECTORY"),
		TokenURL:        c.TokenURL,
		HTTPTimeout:     c.HTTPTimeout,
		LockTimeout:     c.LockTimeout,
		IfExpiresWithin: c.IfExpiresWithin,
		Force:           c.Force,
		Delivery:        cli.delivery(),
		Log:             e.log,
	})
	if c.MetricsFile != "" {
		m := MetricsRun{Result: res, ExitCode: ExitCode(err), TokenFile: cli.TokenFile, End: time.Now(), Ack: deliver.Ack(cli.Ack)}
		if merr := WriteMetrics(c.MetricsFile, m); merr != nil {
			e.log.Warn(fmt.Sprintf("Cannot write metrics: %v", merr))
		}
	}
	return err
}

// Run pushes the token file as it is. An expired access token is not pushed.
func (c *DeliverCmd) Run(cli *CLI, e *env) error {
	f, err := ReadTokenFile(cli.TokenFile, e.log)
	if err != nil {
		return err
	}
	if ago := time.Since(f.Token.Expiry()); ago >= 0 {
		return fail(ExitTempFail, "run refresh-token first, then deliver",
			"access token in %s expired %s ago: not pushed", cli.TokenFile, humanize(ago))
	}
	_, err = push(e.ctx, f.Token, cli.delivery(), e.log)
	return err
}

func (cli *CLI) delivery() Delivery {
	return Delivery{
		Sockets:    cli.Socket,
		Retries:    cli.Retries,
		RetryDelay: cli.RetryDelay,
		Timeout:    cli.SocketTimeout,
		TrustUIDs:  cli.TrustUID,
		Ack:        deliver.Ack(cli.Ack),
		Require:    cli.RequireDelivery,
	}
}

// Build identifies the binary for --version.
type Build struct {
	Version, Commit string
}

func (b Build) String() string {
	v, c := b.Version, b.Commit
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && c == "" {
				c = s.Value
			}
		}
	}
	if v == "" {
		v = "devel"
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
type exit int

func newParser(cli *CLI, b Build, stdout, stderr io.Writer) (*kong.Kong, error) {
	return kong.New(cli,
		kong.Name("refresh-token"),
		kong.Description(description),
		kong.Vars{"token_url": oauth.DefaultTokenURL, "authorize_url": oauth.DefaultAuthorizeURL},
		kong.Bind(b),
		kong.DefaultEnvars("REFRESH_TOKEN"),
		kong.Writers(stdout, stderr),
		kong.Exit(func(c int) { panic(exit(c)) }),
	)
}

// Main runs the command line and returns the exit code. It never calls
// os.Exit, so deferred clean-up runs and tests can call it.
func Main(b Build, args []string, stdout, stderr io.Writer) (code int) {
	var cli CLI
	parser, err := newParser(&cli, b, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "refresh-token: error: %v\n", err)
		return ExitSoftware
	}
	defer func() {
		if r := recover(); r != nil {
			c, ok := r.(exit)
			if !ok {
				panic(r)
			}
			code = int(c)
		}
	}()
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "refresh-token: error: %v\n", err)
		fmt.Fprintf(stderr, "refresh-token: hint: see 'refresh-token --help'\n")
		return ExitUsage
	}

	level, err := ParseLevel(cli.LogLevel)
	if err != nil { // unreachable: kong checked the enum
		fmt.Fprintf(stderr, "refresh-token: error: %v\n", err)
		return ExitUsage
	}
	logFile := cli.LogFile
	if kctx.Command() == "status" {
		logFile = "" // a read-only report: it neither creates nor fills the run's log
	}
	log, closeLog := NewLogger(LogOptions{Level: level, JSON: cli.LogFormat == "json", File: logFile, Stderr: stderr})
	defer closeLog()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = kctx.Run(&cli, &env{ctx: ctx, log: log, stdin: os.Stdin, stdout: stdout})
	if err == nil {
		return ExitOK
	}
	code = ExitCode(err)
	if errors.As(err, new(reported)) {
		return code
	}
	if ctx.Err() != nil && code != ExitOK {
		err = fmt.Errorf("interrupted: %w", err)
	}
	attrs := []any{}
	if hint := HintOf(err); hint != "" {
		attrs = append(attrs, "hint", hint)
	}
	attrs = append(attrs, "exit", code)
	log.Error(err.Error(), attrs...)
	return code
}
