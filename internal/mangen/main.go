// Command mangen writes the refresh-token(1) man page from the kong model of
// the command line, so that the commands, flags, defaults, environment
// variables and exit codes in the page are the ones the binary parses.
//
//	go run ./internal/mangen -version v1.2.0 -date 2026-11-27 -o bin/refresh-token.1
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/refresh-token/refresh-token/cli"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mangen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	version := fs.String("version", "devel", "version shown in the page footer")
	date := fs.String("date", "", "date shown in the page footer (YYYY-MM-DD)")
	out := fs.String("o", "", "write the page to `FILE` instead of stdout")
	docdir := fs.String("docdir", cli.DefaultDocDir, "where the documentation is installed, named in the page")
	if err := fs.Parse(args); err != nil {
		return 64
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mangen: error: unexpected argument %q\n", fs.Arg(0))
		return 64
	}
	app, err := cli.Model(cli.Build{Version: *version, DocDir: *docdir})
	if err != nil {
		fmt.Fprintf(stderr, "mangen: error: %v\n", err)
		return 70
	}
	var b bytes.Buffer
	if err := Render(&b, app, Page{Section: "1", Version: *version, Date: *date, Extra: refreshTokenExtra(*docdir)}); err != nil {
		fmt.Fprintf(stderr, "mangen: error: %v\n", err)
		return 70
	}
	if *out == "" {
		_, err = stdout.Write(b.Bytes())
	} else {
		err = os.WriteFile(*out, b.Bytes(), 0o644)
	}
	if err != nil {
		fmt.Fprintf(stderr, "mangen: error: %v\n", err)
		return 73
	}
	return 0
}

// refreshTokenExtra holds what the command line does not know: the common
// uses, the files and variables the program reads besides its flags, and
// the pages around it, with the documentation installed in docdir.
func refreshTokenExtra(docdir string) []Section {
	return []Section{
		{Title: "EXAMPLES", Body: []Item{
			{Tag: "systemctl enable --now refresh-token.timer", Text: "Refresh every 25 minutes from the unit, after the first login. journalctl -u refresh-token shows each run; refresh-token.service's exit code says how the last one went."},
			{Tag: "ssh -L 8182:127.0.0.1:8182 server, then on the server: sudo -u bigbrother refresh-token login", Text: "The weekly browser login on a remote server: the callback port is forwarded to the machine with the browser, where the printed URL is opened. sudo's $SUDO_UID is trusted to connect to the callback."},
			{Tag: "refresh-token status --json", Text: "A monitoring check: exit 0 when the bot has a good token, 75 when refreshes are not happening, 77 when a login is due or a socket is untrusted; the JSON report says why."},
			{Tag: "refresh-token deliver", Text: "Push the token file as it is to the bot, once, without a refresh: the bot's ExecStartPost= after it starts."},
		}},
		{Title: "ENVIRONMENT", Body: []Item{
			{Text: "Every flag has an environment variable, named with each flag above: REFRESH_TOKEN_ and the flag name in upper snake case. A flag given on the command line wins over its variable. A repeatable flag takes a comma-separated list."},
			{Tag: "CREDENTIALS_DIRECTORY", Text: "Set by systemd's LoadCredential=. The files app_key and app_secret there override the app config's values; with both, the app config may be absent."},
			{Tag: "JOURNAL_STREAM", Text: "Set by systemd when standard error is the journal. Log lines then carry an sd-daemon(3) priority prefix instead of a timestamp."},
		}},
		{Title: "FILES", Body: []Item{
			{Tag: "configs/schwab_tokens.json", Text: "The token file (--token-file), schwab-py's format: creation_timestamp and a token object. Read by every command; replaced atomically by run and login, keeping its mode, owner and every field refresh-token does not know. Relative paths are resolved against the working directory (WorkingDirectory= in the unit)."},
			{Tag: "configs/schwab_app_config.yaml", Text: "The app config (--app-config of run and login): app_key and app_secret (run, login) and callback_url (login: the app's registered callback URL, https on 127.0.0.1, e.g. https://127.0.0.1:8182), beside other tools' keys, which are ignored. Read, never written; at most 64 KiB."},
			{Tag: "logs/token_refresh_sender.log", Text: "The log file (--log-file of run, deliver and login), appended to, created 0600 with its directory 0700 once the command has its inputs. status writes none."},
			{Tag: "<token-file>.lock", Text: "Taken with flock(2) by every run and by login for its write, so that overlapping runs from a timer, cron and a person take turns. Created 0600 beside the token file, never deleted; a symlink there, or a lock file another user owns, is refused."},
			{Tag: "/etc/default/refresh-token", Text: "REFRESH_TOKEN_* variables read by refresh-token.service (EnvironmentFile=), the trading bot's ExecStartPost= delivery and the cron line."},
			{Tag: "refresh-token.service, refresh-token.timer", Text: "The hardened oneshot and its 25-minute timer. Enable with systemctl enable --now refresh-token.timer; read the log with journalctl -u refresh-token."},
		}},
		{Title: "SEE ALSO", Body: []Item{
			{Text: "In " + docdir + ": README.md (install, quick start, migration from the Python sender, operating it), BOT.md (the bot's receivers and --ack), status.md (the JSON report), metrics.md (the metrics and alert rules), run.md (what one run does, files, exit codes), deployment.md (the units, the sandbox, cron), login.md, development.md, RELIABILITY.md, and examples/ (units, drop-ins, the env file, alert rules)."},
			{Text: "systemd.service(5), systemd.timer(5), systemd.exec(5), journalctl(1), crontab(5), sysexits(3)"},
		}},
	}
}
