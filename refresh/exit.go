package refresh

import sysexits "github.com/refresh-token/refresh-token/internal/exit"

// Exit codes, from sysexits(3): the table is kept in internal/exit, shared
// with package oauth; README.md and --help list the same.
const (
	ExitOK         = sysexits.OK         // refreshed, or skipped by a guard
	ExitUsage      = sysexits.Usage      // bad flags or arguments
	ExitData       = sysexits.Data       // token file unreadable: not JSON, wrong shape, no refresh_token, a Schwabdev SQLite database
	ExitNoInput    = sysexits.NoInput    // token file or app config not found or not readable
	ExitSoftware   = sysexits.Software   // internal error
	ExitCantCreate = sysexits.CantCreate // token file could not be written
	ExitTempFail   = sysexits.TempFail   // temporary: network, timeout, 5xx/429/HTML, malformed response, lock busy
	ExitNoPerm     = sysexits.NoPerm     // Schwab rejected the token or credentials; untrusted bot socket
	ExitConfig     = sysexits.Config     // app config invalid; plain-http token URL off loopback
)

// Error is a failure with its exit code and an optional hint saying what to do.
type Error = sysexits.Error

// fail wraps err with an exit code and a hint.
func fail(code int, hint string, format string, args ...any) *Error {
	return sysexits.Fail(code, hint, format, args...)
}

// ExitCode returns the exit code err carries: 0 for nil, 70 for an error
// that carries none (a bug: every failure path should say what it is).
func ExitCode(err error) int { return sysexits.Code(err) }

// HintOf returns the hint attached to err, if any.
func HintOf(err error) string { return sysexits.Hint(err) }
