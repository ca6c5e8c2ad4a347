package testutil

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// ParseMetrics reads a text exposition into name{labels} -> value, and
// checks that every sample has HELP and TYPE lines before it.
func ParseMetrics(t *testing.T, data []byte) map[string]float64 {
	t.Helper()
	m := map[string]float64{}
	typed := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, kind, _ := strings.Cut(name, " ")
			if kind != "gauge" {
				t.Errorf("%s: type %q", name, kind)
			}
			typed[name] = true
			continue
		}
		if strings.HasPrefix(line, "# HELP ") {
			continue
		}
		key, val, ok := strings.Cut(line, " ")
		if !ok || strings.Contains(val, " ") {
			t.Errorf("sample %q: want exactly name and value, no timestamp", line)
			continue
		}
		name, _, _ := strings.Cut(key, "{")
		if !typed[name] {
			t.Errorf("sample %q before its # TYPE line", line)
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			t.Errorf("sample %q: %v", line, err)
		}
		m[key] = v
	}
	return m
}

// ReadMetrics reads the metrics file at path, failing t if it holds anything
// like a secret of the tests: a token or an app key.
func ReadMetrics(t *testing.T, path string) map[string]float64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"secret", "AT-", "RT-", "ID-", "appkey"} {
		if strings.Contains(string(data), secret) {
			t.Errorf("metrics contain %q:\n%s", secret, data)
		}
	}
	return ParseMetrics(t, data)
}

// Near checks a timestamp gauge against the test's clock.
func Near(t *testing.T, name string, got float64, from, to int64) {
	t.Helper()
	if int64(got) < from || int64(got) > to {
		t.Errorf("%s = %v, want within [%d, %d]", name, got, from, to)
	}
}

// OnlyFiles checks that dir holds exactly names: no temp file left over.
func OnlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if diff := cmp.Diff(names, got); diff != "" {
		t.Errorf("files in %s (-want +got):\n%s", dir, diff)
	}
}
