package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/alecthomas/kong"
)

// Version and Commit are shown by bot-sim --version. cmd/bot-sim sets them
// from values stamped at build time; empty falls back to the build info.
var Version, Commit string

// Exit codes of bot-sim.
const (
	exitOK    = 0
	exitError = 1  // the command failed at run time
	exitUsage = 64 // EX_USAGE: bad flags or arguments
	exitInUse = 75 // EX_TEMPFAIL: the socket belongs to a live process
)

type cli struct {
	Version kong.VersionFlag `help:"Print the version and exit."`

	Receive receiveCmd `cmd:"" default:"withargs" help:"Stand in for the trading bot's token receiver (the default command)."`
	Schwab  schwabCmd  `cmd:"" help:"Serve a fake Schwab token endpoint and authorization endpoint on loopback."`
}

// streams carries the command's output to the Run methods.
type streams struct {
	stdout, stderr io.Writer
}

// exitCode is what kong's Exit hook panics with, so that --help and
// --version end Main instead of the process.
type exitCode int

// Run runs bot-sim with the process's arguments and standard streams and
// returns its exit code: the whole of cmd/bot-sim's main.
func Run() int {
	return Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
}

// Main runs bot-sim with args (without the program name) until it is done,
// ctx is cancelled, or SIGINT or SIGTERM arrives, and returns the exit code:
// 0 on success and on a clean shutdown, 64 for usage errors, 1 for failures,
// 141 when receive --die-on-early-close died as the bot would of SIGPIPE,
// 75 when receive found another process listening on its socket.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	var c cli
	parser, err := kong.New(&c,
		kong.Name("bot-sim"),
		kong.Description("Stand-ins for the trading bot's token socket and Schwab's token endpoint, for tests and demos."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(exitCode(code)) }),
		kong.Vars{"version": version(), "authorize_path": AuthorizePath},
	)
	if err != nil {
		fmt.Fprintf(stderr, "bot-sim: error: %v\n", err)
		return exitError
	}
	defer func() {
		if p := recover(); p != nil {
			e, ok := p.(exitCode)
			if !ok {
				panic(p)
			}
			code = int(e)
		}
	}()
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "bot-sim: error: %v\n", err)
		fmt.Fprintf(stderr, "bot-sim: hint: see bot-sim --help\n")
		return exitUsage
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	kctx.BindTo(ctx, (*context.Context)(nil))
	kctx.Bind(&streams{stdout: stdout, stderr: stderr})
	if err := kctx.Run(); err != nil {
		fmt.Fprintf(stderr, "bot-sim: error: %v\n", err)
		switch {
		case errors.Is(err, ErrEarlyClose):
			return ExitEarlyClose
		case errors.Is(err, ErrInUse):
			return exitInUse
		}
		return exitError
	}
	return exitOK
}

func version() string {
	v, commit := Version, Commit
	if info, ok := debug.ReadBuildInfo(); ok && v == "" {
		v = info.Main.Version
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && commit == "" {
				commit = s.Value
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	if commit != "" {
		return fmt.Sprintf("bot-sim %s (commit %s, %s)", v, commit, runtime.Version())
	}
	return fmt.Sprintf("bot-sim %s (%s)", v, runtime.Version())
}

// writeFileAtomic writes data to path through a rename, so that a script
// polling for the file never reads it half-written.
func writeFileAtomic(path, data string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".bot-sim-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = tmp.WriteString(data)
	// Readable by others: it holds a path or a URL, never a secret.
	err = errors.Join(err, tmp.Chmod(0o644))
	err = errors.Join(err, tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
