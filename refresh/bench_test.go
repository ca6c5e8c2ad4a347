package refresh

// Benchmarks of the token file path of one run, and of the command line
// that every run parses first. `make bench` runs them with -benchmem;
// `make test` does not run benchmarks.

import (
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/internal/testutil"
	"github.com/refresh-token/refresh-token/store"
)

func BenchmarkMetrics(b *testing.B) {
	f, err := store.ParseTokenFile(testutil.Read(b, "../testdata/schwab_tokens.json"))
	if err != nil {
		b.Fatal(err)
	}
	run := MetricsRun{
		Result:   Result{File: f, Delivered: true, Durations: map[string]time.Duration{StageLock: time.Millisecond, StageRefresh: time.Second}},
		ExitCode: 0,
		End:      time.Now(),
	}
	b.ReportAllocs()
	for b.Loop() {
		Metrics(run, 0)
	}
}
