package harness

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"time"
)

type receiveCmd struct {
	Socket          string         `default:"/tmp/bigbrother_token.sock" placeholder:"PATH" help:"Socket path; whatever is there is removed first, as the bot does (default: ${default})."`
	Mode            string         `placeholder:"OCTAL" help:"Chmod the socket to OCTAL; without it the socket's mode is 0777 less the umask, as the bot leaves it."`
	Backlog         int            `default:"5" placeholder:"N" help:"listen(2) backlog, as the bot's (default: ${default}); Linux queues N+1 connections, the next connect fails with EAGAIN."`
	Record          string         `placeholder:"FILE" help:"Append a JSON line per message, tokens included, to FILE (created 0600)."`
	NoAck           bool           `help:"Be the bot's TokenReceiver: one recv of up to 8192 bytes, a 5s receive timeout (unless --read-timeout), no reply, close."`
	Parse           string         `default:"strict" placeholder:"strict|lenient" enum:"strict,lenient" help:"strict: the protocol's contract, an integer expires_at and nothing before the JSON; lenient: as the bot's JSON library, expires_at as 1.7e9 or 1700000000.5 truncated, a UTF-8 BOM skipped (default: ${default})."`
	Ack             string         `placeholder:"TEXT" help:"Reply TEXT instead of OK or ERROR."`
	AckDelay        time.Duration  `placeholder:"DUR" help:"Wait DUR before replying."`
	DieOnEarlyClose bool           `help:"Exit with status 141, leaving the socket file, when the client has closed its end before the reply is written: the bot dies of SIGPIPE there."`
	FailFirst       int            `placeholder:"N" help:"Close the first N connections without reading or replying."`
	Count           int            `placeholder:"N" help:"Exit after N messages."`
	Read            string         `default:"single" placeholder:"single|stream" enum:"single,stream" help:"single: one recv of at most 4095 bytes (8192 with --no-ack), as the bot does; stream: read until a whole JSON value has arrived (default: ${default})."`
	ReadTimeout     *time.Duration `placeholder:"DUR" help:"Give up on a client that sends nothing for DUR; 0 waits forever, as the bot's JSON receiver does (default: 10s; 5s with --no-ack)."`
	ReadyFile       string         `placeholder:"PATH" help:"Write the socket path to PATH once listening."`
}

// Validate is called by kong, so a bad value is a usage error.
func (c *receiveCmd) Validate() error {
	if _, err := c.fileMode(); err != nil {
		return err
	}
	if c.FailFirst < 0 || c.Count < 0 {
		return fmt.Errorf("--fail-first and --count must not be negative")
	}
	if c.Backlog < 1 {
		return fmt.Errorf("--backlog must be at least 1")
	}
	if c.AckDelay < 0 || c.ReadTimeout != nil && *c.ReadTimeout < 0 {
		return fmt.Errorf("--ack-delay and --read-timeout must not be negative")
	}
	return nil
}

// fileMode is --mode, or 0 when it is not given.
func (c *receiveCmd) fileMode() (fs.FileMode, error) {
	if c.Mode == "" {
		return 0, nil
	}
	m, err := strconv.ParseUint(c.Mode, 8, 32)
	if err != nil || m > 0o777 || m == 0 {
		return 0, fmt.Errorf("--mode %q: want an octal permission such as 0600", c.Mode)
	}
	return fs.FileMode(m), nil
}

func (c *receiveCmd) Run(ctx context.Context, s *streams) error {
	mode, _ := c.fileMode()
	r := &Receiver{
		Path:            c.Socket,
		Mode:            mode,
		Backlog:         c.Backlog,
		Read:            ReadMode(c.Read),
		Parse:           ParseMode(c.Parse),
		Record:          c.Record,
		Out:             s.stdout,
		NoAck:           c.NoAck,
		DieOnEarlyClose: c.DieOnEarlyClose,
		Ack:             c.Ack,
		AckDelay:        c.AckDelay,
		FailFirst:       c.FailFirst,
		Count:           c.Count,
	}
	switch {
	case c.ReadTimeout == nil: // the Receiver's default
	case *c.ReadTimeout == 0:
		r.ReadTimeout = -1
	default:
		r.ReadTimeout = *c.ReadTimeout
	}
	if err := r.Listen(); err != nil {
		return err
	}
	fmt.Fprintf(s.stdout, "bot-sim: listening on %s\n", c.Socket)
	if c.ReadyFile != "" {
		if err := writeFileAtomic(c.ReadyFile, c.Socket+"\n"); err != nil {
			r.Close()
			return err
		}
	}
	if err := r.Serve(ctx); err != nil {
		if errors.Is(err, ErrEarlyClose) {
			fmt.Fprintf(s.stdout, "bot-sim: %v: exiting with status %d, socket left behind\n", err, ExitEarlyClose)
		}
		return err
	}
	fmt.Fprintf(s.stdout, "bot-sim: stopped after %d messages\n", len(r.Received()))
	return nil
}

// Help is the detail of 'bot-sim receive --help'.
func (c *receiveCmd) Help() string {
	return `Without flags it is the bot's JSON receiver (token_manager.cpp): one recv of at most 4095 bytes, the JSON parsed strictly, "OK" or "ERROR", close; backlog 5; socket mode from the umask. --parse=lenient parses as the bot's JSON library does. --die-on-early-close dies, as the bot does, when the client left before the reply. --no-ack is the receiver the bot's build compiles (TokenReceiver): one recv of up to 8192 bytes, a 5s receive timeout, no reply. See docs/BOT.md.`
}
