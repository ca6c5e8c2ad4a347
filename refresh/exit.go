package refresh

import (
	"errors"
	"fmt"
)

// Exit codes, from sysexits(3), so that systemd, cron and monitoring can act
// on them. README.md and --help list the same table.
const (
	ExitOK         = 0  // refreshed, or skipped by a guard
	ExitUsage      = 64 // bad flags or arguments
	ExitData       = 65 // token file unreadable: not JSON, wrong shape, no refresh_token
	ExitNoInput    = 66 // token file or app config not found or not readable
	ExitSoftware   = 70 // internal error
	ExitCantCreate = 73 // token file could not be written
	ExitTempFail   = 75 // temporary: network, timeout, 5xx/429/HTML, malformed response, lock busy
	ExitNoPerm     = 77 // Schwab rejected the token or credentials; untrusted bot socket
	ExitConfig     = 78 // app config invalid; plain-http token URL off loopback
)

// Error is a failure with its exit code and an optional hint saying what to do.
type Error struct {
	Code int
	Err  error
	Hint string
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// ExitCode makes *Error a kong.ExitCoder.
func (e *Error) ExitCode() int { return e.Code }

// fail wraps err with an exit code and a hint.
func fail(code int, hint string, format string, args ...any) *Error {
	return &Error{Code: code, Err: fmt.Errorf(format, args...), Hint: hint}
}

// ExitCode returns the exit code err carries: 0 for nil, 70 for an error
// that carries none (a bug: every failure path should say what it is).
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var e interface{ ExitCode() int }
	if errors.As(err, &e) {
		return e.ExitCode()
	}
	return ExitSoftware
}

// HintOf returns the hint attached to err, if any.
func HintOf(err error) string {
	var h interface{ hint() string }
	if errors.As(err, &h) {
		return h.hint()
	}
	return ""
}

func (e *Error) hint() string { return e.Hint }
