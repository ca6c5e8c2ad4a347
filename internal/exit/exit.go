// Package exit holds the exit codes of refresh-token and the error that carries one.
package exit

import (
	"errors"
	"fmt"
)

// Exit codes, from sysexits(3), so that systemd, cron and monitoring can act
// on them. README.md and --help list the same table.
const (
	OK         = 0  // refreshed, or skipped by a guard
	Usage      = 64 // bad flags or arguments
	Data       = 65 // token file unreadable: not JSON, wrong shape, no refresh_token, a Schwabdev SQLite database
	NoInput    = 66 // token file or app config not found or not readable
	Software   = 70 // internal error
	CantCreate = 73 // token file could not be written
	TempFail   = 75 // temporary: network, timeout, 5xx/429/HTML, malformed response, lock busy
	NoPerm     = 77 // Schwab rejected the token or credentials; untrusted bot socket
	Config     = 78 // app config invalid; plain-http token URL off loopback
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

// HintText returns what to do about e.
func (e *Error) HintText() string { return e.Hint }

// Fail returns an *Error with code and hint around a formatted error.
func Fail(code int, hint string, format string, args ...any) *Error {
	return &Error{Code: code, Err: fmt.Errorf(format, args...), Hint: hint}
}

// Code returns the exit code err carries: 0 for nil, 70 for an error that
// carries none (a bug: every failure path should say what it is).
func Code(err error) int {
	if err == nil {
		return OK
	}
	var e interface{ ExitCode() int }
	if errors.As(err, &e) {
		return e.ExitCode()
	}
	return Software
}

// Hinter is an error that says what to do about it.
type Hinter interface{ HintText() string }

// Hint returns the hint of the first error in err's chain that has one.
func Hint(err error) string {
	var h Hinter
	if errors.As(err, &h) {
		return h.HintText()
	}
	return ""
}
