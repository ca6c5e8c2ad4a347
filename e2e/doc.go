// Package e2e holds the accelerated end-to-end test of the deployment: the
// shipped systemd retry policy and cron line, run a minute to a second
// against bot-sim, through an injected outage of the token endpoint. It
// takes about a minute, so plain go test skips it: run make e2e.
package e2e
