package store

import (
	"time"

	"github.com/refresh-token/refresh-token/oauth"
)

// The token facts that run, login and status share.
const (
	// RefreshLifetime is how long Schwab accepts a refresh token after the
	// browser login that issued it ("about 7 days").
	RefreshLifetime = 7 * 24 * time.Hour

	// LoginWarnAge is the refresh-token age from which every run warns that
	// the 7-day browser login is near (schwab-py forces a login at the same
	// age).
	LoginWarnAge = 6*24*time.Hour + 12*time.Hour

	// RecentlyIssued is the guard window: a token issued this recently was
	// refreshed by another run and is not refreshed again.
	RecentlyIssued = 60 * time.Second

	// MaxLifetime is the longest access-token lifetime the guards believe,
	// the same day the token client believes of an answer.
	MaxLifetime = oauth.MaxLifetime
)
