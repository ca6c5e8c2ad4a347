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
	"github.com/refresh-token/refresh-token/refresh/oauth"
)

const description = `Refresh the Schwab OAuth token, write it atomically and durably, and push it to the trading bot.

Run by a systemd timer every 25 minutes, by cron, or by hand. 'refresh-token run --help' lists the refresh flags. Every flag can also be set by an environment variable: REFRESH_TOKEN_ + the flag name in upper snake case (--token-file: REFRESH_TOKEN_TOKEN_FILE); a flag on the command line wins.

Exit codes (sysexits):
  0   refreshed, or skipped by a guard
  64  usage error
  65  token file unreadable: not JSON, wrong shape, no refresh_token
  66  token file or app config not found
  70  internal error
  73  token file could not be written (the new token is still delivered)
  75  temporary: network, timeout, 5xx/429/HTML, malformed response, lock busy, delivery failed with --require-delivery
  77  Schwab rejected the refresh token or app credentials (log in again); untrusted bot socket
  78  app config invalid; plain-http token URL off loopback`

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
	SocketTimeout   time.Duration `default:"5s" placeholder:"DUR" help:"Per delivery attempt: connect, send and acknowledgement. Default: ${default}."`
	TrustUID        []int         `name:"trust-uid" placeholder:"UID" help:"Socket owner trusted besides root and our own uid; repeatable."`
	RequireDelivery bool          `help:"A failed delivery exits 75 instead of 0."`

	Run     RunCmd     `cmd:"" default:"withargs" help:"Refresh the token, write it and deliver it (the default command)."`
	Deliver DeliverCmd `cmd:"" help:"Push the token file to the bot as it is, without refreshing (for the bot's ExecStartPost=)."`
	Status  StatusCmd  `cmd:"" help:"Report the token file, the access and refresh tokens, the lock and the bot sockets; exit 0 when healthy."`
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
		m := MetricsRun{Result: res, ExitCode: ExitCode(err), TokenFile: cli.TokenFile, End: time.Now()}
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
		Require:    cli.RequireDelivery,
	}
}

// Build identifies the binary for --version.
type Build struct {
	Version, Commit string
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
		kong.Vars{"token_url": oauth.DefaultTokenURL},
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
	err = kctx.Run(&cli, &env{ctx: ctx, log: log, stdout: stdout})
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
