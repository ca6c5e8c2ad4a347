package refresh

import "time"

// FastRetries shortens the token request's retry pauses and the token
// file's re-read pauses, so that tests can run the command line in process
// through every failure class in milliseconds. It returns the restore
// function; it must not be called while other tests run.
func FastRetries() (restore func()) {
	backoff, pauses := tokenBackoff, rereadPauses
	tokenBackoff = time.Millisecond
	rereadPauses = []time.Duration{time.Millisecond, time.Millisecond}
	return func() { tokenBackoff, rereadPauses = backoff, pauses }
}
