package cli

// Benchmarks of the token file path of one run, and of the command line
// that every run parses first. `make bench` runs them with -benchmem;
// `make test` does not run benchmarks.

import (
	"io"
	"testing"
)

// BenchmarkCommandLine is the start of every run: kong builds its model of
// the command line from struct tags, then parses the arguments.
func BenchmarkCommandLine(b *testing.B) {
	args := []string{"--token-file", "configs/schwab_tokens.json", "--socket", "/tmp/bigbrother_token.sock",
		"run", "--app-config", "configs/schwab_app_config.yaml", "--metrics-file", "/var/lib/node-exporter/refresh_token.prom"}
	b.ReportAllocs()
	for b.Loop() {
		var cli CLI
		k, err := newParser(&cli, Build{}, io.Discard, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := k.Parse(args); err != nil {
			b.Fatal(err)
		}
	}
}
