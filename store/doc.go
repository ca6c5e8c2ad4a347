// Package store keeps refresh-token's files: the schwab-py token file, its lock and durable write, the app config.
package store
