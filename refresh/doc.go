// Package refresh refreshes a Schwab OAuth token and persists it safely.
//
// One run takes an exclusive lock beside the token file, reads the file
// (schwab-py format, unknown fields kept), decides whether a refresh is due,
// posts the refresh_token grant, writes the file atomically and durably, and
// hands the new token to package deliver. Every failure is an *exit.Error that
// carries a sysexits(3) exit code and, where there is one, a hint that says
// what to do.
//
// Caveats: the lock serialises refresh-token runs only. Other programs that
// share the token file (schwab-py writes it in place, without a lock) are met
// by re-reading a half-written file after a short pause.
package refresh
