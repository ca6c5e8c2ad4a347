package store

// Benchmarks of the token file path of one run, and of the command line
// that every run parses first. `make bench` runs them with -benchmem;
// `make test` does not run benchmarks.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/oauth"
)

// benchResponse is a token answer with Schwab's field sizes.
var benchResponse = &oauth.Response{
	AccessToken:  "I0.b2F1dGgyLmNkYy5zY2h3YWIuY29t.access-token-0123456789abcdefghijklmnopqrstuvwxyz@",
	RefreshToken: "demo-refresh-token-0123456789",
	IDToken:      "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.signature",
	TokenType:    "Bearer",
	Scope:        "api",
	ExpiresIn:    1800,
}

func BenchmarkParseTokenFile(b *testing.B) {
	data := seedTokens(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseTokenFile(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadTokenFile(b *testing.B) {
	p := filepath.Join(b.TempDir(), "tokens.json")
	if err := os.WriteFile(p, seedTokens(b), 0o600); err != nil {
		b.Fatal(err)
	}
	log := discard()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReadTokenFile(context.Background(), p, log); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkApply(b *testing.B) {
	f, err := ParseTokenFile(seedTokens(b))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		f.Apply(benchResponse, now)
	}
}

func BenchmarkMarshal(b *testing.B) {
	f, err := ParseTokenFile(seedTokens(b))
	if err != nil {
		b.Fatal(err)
	}
	f.Apply(benchResponse, time.Now())
	b.ReportAllocs()
	for b.Loop() {
		f.Marshal()
	}
}

// BenchmarkWriteFile is the durable write: temp file, fsync, rename,
// directory fsync. What it costs depends on the file system under
// $TMPDIR; on tmpfs fsync is free.
func BenchmarkWriteFile(b *testing.B) {
	p := filepath.Join(b.TempDir(), "tokens.json")
	data := seedTokens(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := writeFile(p, data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTokenFileCycle is everything a run does to the token file, in
// order: read and parse it, apply the token answer, marshal and write it.
func BenchmarkTokenFileCycle(b *testing.B) {
	p := filepath.Join(b.TempDir(), "tokens.json")
	if err := os.WriteFile(p, seedTokens(b), 0o600); err != nil {
		b.Fatal(err)
	}
	log := discard()
	b.ReportAllocs()
	for b.Loop() {
		f, err := ReadTokenFile(context.Background(), p, log)
		if err != nil {
			b.Fatal(err)
		}
		f.Apply(benchResponse, time.Now())
		if err := writeFile(p, f.Marshal()); err != nil {
			b.Fatal(err)
		}
	}
}

// seedTokens is the seed's token file, with the sizes of real Schwab tokens.
func seedTokens(b *testing.B) []byte {
	b.Helper()
	data, err := os.ReadFile("../testdata/schwab_tokens.json")
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// BenchmarkParseManyKeys parses a token file of many unknown keys at each
// level, near the 1 MiB cap at the largest size: the time per key must not
// grow with the number of keys.
func BenchmarkParseManyKeys(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		var buf bytes.Buffer
		buf.WriteString(`{"token": {"refresh_token": "RT"`)
		for i := range n {
			fmt.Fprintf(&buf, `,"k%d":1`, i)
		}
		buf.WriteString(`}}`)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseTokenFile(buf.Bytes()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
