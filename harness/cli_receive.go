package harness

import (
	"context"
	"fmt"
	"io/fs"
	"strconv"
	"time"
)

type receiveCmd struct {
	Socket      string        `default:"/tmp/bigbrother_token.sock" placeholder:"PATH" help:"Socket path; whatever is there is removed first, as the bot does (default: ${default})."`
	Mode        string        `default:"0600" placeholder:"OCTAL" help:"File mode of the socket (default: ${default})."`
	Record      string        `placeholder:"FILE" help:"Append a JSON line per message, tokens included, to FILE (created 0600)."`
	NoAck       bool          `help:"Be the older receiver: keep the message, close without a reply."`
	Ack         string        `placeholder:"TEXT" help:"Reply TEXT instead of OK or ERROR."`
	AckDelay    time.Duration `placeholder:"DUR" help:"Wait DUR before replying."`
	FailFirst   int           `placeholder:"N" help:"Close the first N connections without reading or replying."`
	Count       int           `placeholder:"N" help:"Exit after N messages."`
	Read        string        `default:"single" placeholder:"single|stream" enum:"single,stream" help:"single: one recv of at most 4095 bytes, as the bot does; stream: read until a whole JSON value has arrived (default: ${default})."`
	ReadTimeout time.Duration `default:"10s" placeholder:"DUR" help:"Give up on a client that sends nothing for DUR; 0 waits forever, as the bot does (default: ${default})."`
	ReadyFile   string        `placeholder:"PATH" help:"Write the socket path to PATH once listening."`
}

// Validate is called by kong, so a bad value is a usage error.
func (c *receiveCmd) Validate() error {
	if _, err := c.fileMode(); err != nil {
		return err
	}
	if c.FailFirst < 0 || c.Count < 0 {
		return fmt.Errorf("--fail-first and --count must not be negative")
	}
	if c.AckDelay < 0 || c.ReadTimeout < 0 {
		return fmt.Errorf("--ack-delay and --read-timeout must not be negative")
	}
	return nil
}

func (c *receiveCmd) fileMode() (fs.FileMode, error) {
	m, err := strconv.ParseUint(c.Mode, 8, 32)
	if err != nil || m > 0o777 || m == 0 {
		return 0, fmt.Errorf("--mode %q: want an octal permission such as 0600", c.Mode)
	}
	return fs.FileMode(m), nil
}

func (c *receiveCmd) Run(ctx context.Context, s *streams) error {
	mode, _ := c.fileMode()
	r := &Receiver{
		Path:        c.Socket,
		Mode:        mode,
		Read:        ReadMode(c.Read),
		ReadTimeout: c.ReadTimeout,
		Record:      c.Record,
		Out:         s.stdout,
		NoAck:       c.NoAck,
		Ack:         c.Ack,
		AckDelay:    c.AckDelay,
		FailFirst:   c.FailFirst,
		Count:       c.Count,
	}
	if c.ReadTimeout == 0 {
		r.ReadTimeout = -1
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
		return err
	}
	fmt.Fprintf(s.stdout, "bot-sim: stopped after %d messages\n", len(r.Received()))
	return nil
}
