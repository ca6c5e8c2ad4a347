package refresh

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/refresh-token/refresh-token/deliver"
	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/store"
)

// Metric names, in the order they are written.
const (
	metricLastRun      = "refresh_token_last_run_timestamp_seconds"
	metricLastSuccess  = "refresh_token_last_success_timestamp_seconds"
	metricExitCode     = "refresh_token_last_exit_code"
	metricAccessExpiry = "refresh_token_access_token_expiry_timestamp_seconds"
	metricRefreshAge   = "refresh_token_refresh_token_age_seconds"
	metricDelivery     = "refresh_token_delivery_success"
	metricAcknowledged = "refresh_token_delivery_acknowledged"
	metricDuration     = "refresh_token_duration_seconds"
	metricReply        = "refresh_token_delivery_reply"
)

// stages are the values of the stage label, in run order.
var stages = []string{StageLock, StageRefresh, StageWrite, StageDeliver}

// MetricsRun is what one run contributes to the metrics file.
type MetricsRun struct {
	Result    Result
	ExitCode  int
	TokenFile string    // read for the token gauges when the run did not get to read it
	End       time.Time // when the run ended
}

// Metrics renders the Prometheus text exposition of a run. lastSuccess is
// the end of the last successful run before this one (0: none known); it is
// replaced by this run's end when this run exited 0. The output holds no
// token, only times, ages, durations and codes, and no sample timestamps,
// as the textfile collector requires.
func Metrics(r MetricsRun, lastSuccess int64) []byte {
	end := r.End.Unix()
	if r.ExitCode == exit.OK {
		lastSuccess = end
	}
	var b bytes.Buffer
	gauge := func(name, help string, value string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n%s %s\n", name, help, name, name, value)
	}
	gauge(metricLastRun, "Unix time the last refresh-token run ended.", strconv.FormatInt(end, 10))
	gauge(metricLastSuccess, "Unix time a refresh-token run last exited 0 (refreshed, or skipped a fresh token); 0 if none is known.", strconv.FormatInt(lastSuccess, 10))
	gauge(metricExitCode, "Exit code of the last run (sysexits: 0 ok, 75 temporary, 77 run refresh-token login; see refresh-token --help).", strconv.Itoa(r.ExitCode))

	if f := r.Result.File; f != nil || r.TokenFile != "" {
		if f == nil {
			f, _ = store.Peek(r.TokenFile)
		}
		if f != nil && f.Token.ExpiresAt != 0 {
			gauge(metricAccessExpiry, "Unix time the access token in the token file expires.", strconv.FormatInt(f.Token.ExpiresAt, 10))
		}
		if f != nil && f.CreationTimestamp != 0 {
			gauge(metricRefreshAge, "Age of the refresh token, from the token file's creation_timestamp, when the run ended; Schwab expires it after about 7 days.",
				strconv.FormatInt(end-f.CreationTimestamp, 10))
		}
	}
	delivered := "0"
	if r.Result.Delivered {
		delivered = "1"
	}
	gauge(metricDelivery, "1 if every bot socket got the token in the last run (acknowledged it, closed after reading it with --ack=auto, or with --ack=none it was written whole), else 0.", delivered)
	acknowledged := "0"
	if allOK(r.Result.Replies) { // every socket, so delivered too
		acknowledged = "1"
	}
	gauge(metricAcknowledged, "1 if every bot socket acknowledged the token with OK in the last run; 0 when a delivery failed, or a socket got it without an OK (closed without a reply, or --ack=none).", acknowledged)
	if len(r.Result.Replies) > 0 {
		fmt.Fprintf(&b, "# HELP %s What each bot socket did with the token in the last run: reply is ok (answered OK), closed (read it and closed without a reply), none (written whole, --ack=none) or failed.\n# TYPE %s gauge\n", metricReply, metricReply)
		for _, rr := range r.Result.Replies {
			reply := string(rr.Reply)
			if reply == "" {
				reply = "failed"
			}
			fmt.Fprintf(&b, "%s{socket=%q,reply=%q} 1\n", metricReply, rr.Socket, reply)
		}
	}

	fmt.Fprintf(&b, "# HELP %s Time the last run spent in each stage; 0 for a stage it did not reach.\n# TYPE %s gauge\n", metricDuration, metricDuration)
	for _, s := range stages {
		fmt.Fprintf(&b, "%s{stage=%q} %s\n", metricDuration, s,
			strconv.FormatFloat(r.Result.Durations[s].Seconds(), 'f', -1, 64))
	}
	return b.Bytes()
}

// allOK reports whether every socket answered OK.
func allOK(replies []Reply) bool {
	for _, r := range replies {
		if r.Reply != deliver.ReplyOK {
			return false
		}
	}
	return len(replies) > 0
}

// lastSuccess reads the last-success time from a metrics file that an
// earlier run wrote; 0 when there is none.
func lastSuccess(path string) int64 {
	f, err := store.OpenRegular(path, os.O_RDONLY, 0, true)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), metricLastSuccess+" ")
		if !ok {
			continue
		}
		n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || n < 0 {
			return 0
		}
		return int64(n)
	}
	return 0
}

// WriteMetrics writes the metrics of a run to path for node_exporter's
// textfile collector. The previous file's last-success time is carried
// over when this run failed. The file is replaced as the token file is
// (store.Replace): written beside path under a name the collector does not
// read (it reads only *.prom) and renamed over it, so the collector never
// reads half a file. It is made 0644 whatever the umask, since
// node_exporter runs as its own user and the file holds no secret. A
// symlink, a path that is not a regular file, or a file another user owns
// is left alone (store.Replace).
func WriteMetrics(path string, r MetricsRun) error {
	return store.Replace(path, Metrics(r, lastSuccess(path)), 0o644)
}
