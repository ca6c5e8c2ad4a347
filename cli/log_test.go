package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/human"
)

func TestTextLog(t *testing.T) {
	var buf bytes.Buffer
	file := filepath.Join(t.TempDir(), "logs", "sub", "x.log")
	log, closeLog := NewLogger(LogOptions{Level: slog.LevelInfo, File: file, Stderr: &buf})
	log.Debug("hidden")
	log.Info("Refreshing OAuth token...")
	log.Warn("careful", "socket", "/tmp/a b", "n", 3)
	log.With("k", "v").Error("bad")
	closeLog()

	re := regexp.MustCompile(`^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] (INFO|WARN|ERROR): `)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{
		"INFO: Refreshing OAuth token...",
		`WARN: careful socket="/tmp/a b" n=3`,
		"ERROR: bad k=v",
	}
	if len(lines) != len(want) {
		t.Fatalf("lines:\n%s", buf.String())
	}
	for i, l := range lines {
		if !re.MatchString(l) || !strings.HasSuffix(l, want[i]) {
			t.Errorf("line %q, want [time] %s", l, want[i])
		}
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != buf.String() {
		t.Errorf("log file differs from stderr:\n%s", got)
	}
	st, _ := os.Stat(file)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("log file mode = %v, want 0600", st.Mode().Perm())
	}
}

func TestJSONLog(t *testing.T) {
	var buf bytes.Buffer
	log, closeLog := NewLogger(LogOptions{Level: slog.LevelDebug, JSON: true, Stderr: &buf})
	defer closeLog()
	log.Debug("d", "x", 1)
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("%v: %s", err, buf.String())
	}
	if rec["msg"] != "d" || rec["level"] != "DEBUG" || rec["x"] != 1.0 {
		t.Errorf("record = %v", rec)
	}
}

// With stderr connected to the journal, lines carry "<N>" and no timestamp.
func TestJournalLog(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st syscall.Stat_t
	syscall.Fstat(int(f.Fd()), &st)
	t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", st.Dev, st.Ino))
	log, closeLog := NewLogger(LogOptions{Level: slog.LevelDebug, Stderr: f})
	log.Debug("d")
	log.Info("i")
	log.Warn("w")
	log.Error("e")
	closeLog()
	got, _ := os.ReadFile(f.Name())
	want := "<7>DEBUG: d\n<6>INFO: i\n<4>WARN: w\n<3>ERROR: e\n"
	if string(got) != want {
		t.Errorf("journal lines:\n%s\nwant:\n%s", got, want)
	}

	t.Setenv("JOURNAL_STREAM", "1:2") // some other stream: plain lines
	if isJournal(f) {
		t.Error("isJournal with another device:inode")
	}
}

func TestLogFileUnopenableWarns(t *testing.T) {
	var buf bytes.Buffer
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	os.WriteFile(blocker, nil, 0o600)
	log, closeLog := NewLogger(LogOptions{Level: slog.LevelInfo, File: filepath.Join(blocker, "x.log"), Stderr: &buf})
	defer closeLog()
	log.Info("still here")
	if !strings.Contains(buf.String(), "WARN: Cannot open log file") || !strings.Contains(buf.String(), "still here") {
		t.Errorf("stderr:\n%s", buf.String())
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{"": "", "abc": "***", "abcd": "****", "abcdef": "abcd..."} {
		if got := human.Secret(in); got != want {
			t.Errorf("human.Secret(%q) = %q, want %q", in, got, want)
		}
	}
}

// A value the operator gives (a path in a flag or a variable) cannot forge
// a log line or reach the terminal raw: a newline and an escape sequence
// are written as \n and \x1b, in the log's messages and attributes and in
// status's report.
func TestOperatorValuesEscaped(t *testing.T) {
	dir := t.TempDir()
	forged := "x\n[2026-12-05 00:00:00] INFO: Token refreshed successfully"
	var out, errb bytes.Buffer
	code := Main(Build{}, []string{"run", "--log-file=", "--token-file", filepath.Join(dir, forged), "--socket", filepath.Join(dir, "s\x1b[2J.sock"),
		"--app-config", filepath.Join(dir, "none.yaml")}, &out, &errb)
	if code != exit.NoInput {
		t.Errorf("exit %d, want 66\n%s", code, errb.String())
	}
	for _, l := range strings.Split(strings.TrimSuffix(errb.String(), "\n"), "\n") {
		if strings.Contains(l, "INFO: Token refreshed") || strings.Contains(l, "\x1b") {
			t.Errorf("forged or raw line %q in:\n%s", l, errb.String())
		}
	}

	log, closeLog := NewLogger(LogOptions{Level: slog.LevelInfo, Stderr: &errb})
	errb.Reset()
	log.Warn("Cannot open "+forged, "socket", "/run/bot\x1b[31m.sock")
	closeLog()
	want := `WARN: Cannot open x\n[2026-12-05 00:00:00] INFO: Token refreshed successfully socket="/run/bot\x1b[31m.sock"` + "\n"
	if got := errb.String(); !strings.HasSuffix(got, want) || strings.Count(got, "\n") != 1 {
		t.Errorf("log line %q, want one line ending %q", got, want)
	}

	out.Reset()
	Main(Build{}, []string{"status", "--token-file", filepath.Join(dir, "t\x1b[2J.json"), "--socket", filepath.Join(dir, "b\nINFO.sock")}, &out, &errb)
	if s := out.String(); strings.Contains(s, "\x1b") || !strings.Contains(s, `t\x1b[2J.json`) || !strings.Contains(s, `b\nINFO.sock`) {
		t.Errorf("status report holds a raw control character or lacks the escaped path:\n%q", s)
	}
}
