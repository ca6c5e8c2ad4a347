// Package refresh runs one refresh cycle (lock, read, refresh, write, deliver) and writes its metrics.
package refresh
