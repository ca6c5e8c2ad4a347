package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refresh-token/refresh-token/cli"
	"github.com/refresh-token/refresh-token/harness"
	"github.com/refresh-token/refresh-token/internal/seam"
	"github.com/refresh-token/refresh-token/internal/testutil"
)

// corpus holds the bad (and a few good) inputs of TestCorpus, one file each:
// tokens/ token files, config/ app configs, responses/ token endpoint
// answers as raw HTTP (status line, headers, body), replies/ the bytes a bot
// answers. The fuzz targets start from the same files, and bot-sim's
// message parser from messages/.
const corpus = "../testdata/corpus"

// The values the corpus uses, as the endpoint knows them.
const (
	corpusAppKey    = "corpusappkey0123456789abcdefghij"
	corpusAppSecret = "corpussecret0123"
	corpusRT        = "corpus-RT-9f8e7d6c5b4a39281706"
)

// corpusCase is one run of the real command line on one input.
type corpusCase struct {
	// in names the input: a corpus file, or a name in parentheses for an
	// input that gen makes (a 10 MB file is not committed).
	in  string
	gen func(t *testing.T, path string) // writes the input to path
	// code is the exit code; want is a regexp that stderr must match.
	code int
	want string
	// args are added to the command line; a --token-url here replaces the
	// endpoint's.
	args []string
	// mode is what the fake endpoint answers, for inputs that are not
	// responses; default ok.
	mode harness.Mode
	// check looks at the token file after a successful run.
	check func(t *testing.T, after []byte)
}

// The hints a user is shown for each class: what to do, not only what broke.
const (
	hintRestore = `hint="restore the token file from a backup or run 'refresh-token login' to write a new one"`
	hintLogin   = `hint="run 'refresh-token login' to log in to Schwab again`
	hintApp     = `hint="check app_key and app_secret in the app config`
	hintTemp    = `hint="temporary failure: the next run retries`
	hintYAML    = `hint="fix the YAML syntax`
	hintKeys    = `hint="set both app_key and app_secret`
	hintHTTPS   = `hint="use https`
	hintBot     = `hint="start the trading bot, or check that its socket path matches --socket"`
)

var corpusCases = []corpusCase{
	// Token files. Every failure is 65 and leaves the file as it was.
	{in: "tokens/valid.json", want: `INFO: Token refreshed successfully`, check: fieldIs(`"access_token": "AT-`)},
	{in: "tokens/empty.json", code: 65, want: `ERROR: \S+: token file: empty ` + hintRestore},
	{in: "tokens/blank.json", code: 65, want: `token file: empty`},
	{in: "tokens/truncated.json", code: 65, want: `token file: not valid JSON: ends after \d+ bytes, before the JSON is complete \(cut short\?\) ` + hintRestore},
	{in: "tokens/token-null.json", code: 65, want: `token file: "token" is null`},
	{in: "tokens/token-string.json", code: 65, want: `token file: "token": want a JSON object, found a string`},
	{in: "tokens/token-array.json", code: 65, want: `token file: "token": want a JSON object, found an array`},
	{in: "tokens/token-missing.json", code: 65, want: `token file: no "token" object`},
	{in: "tokens/top-array.json", code: 65, want: `token file: not valid JSON: want a JSON object, found an array`},
	{in: "tokens/top-null.json", code: 65, want: `token file: not valid JSON: want a JSON object, found null`},
	{in: "tokens/top-string.json", code: 65, want: `token file: not valid JSON: want a JSON object, found a string`},
	{in: "tokens/trailing-object.json", code: 65, want: `token file: not valid JSON: unexpected data after the JSON object`},
	{in: "tokens/utf8-bom.json", code: 65, want: `token file: not valid JSON: starts with a UTF-8 byte order mark, which JSON does not allow`},
	{in: "tokens/python-nan.json", code: 65, want: `token file: not valid JSON: unexpected 'N' at byte \d+ \(line \d+, column \d+\)`},
	{in: "tokens/refresh-token-missing.json", code: 65, want: `token file: no refresh_token ` + hintRestore},
	{in: "tokens/refresh-token-empty.json", code: 65, want: `token file: no refresh_token`},
	{in: "tokens/refresh-token-null.json", code: 65, want: `token file: token.refresh_token is not a string`},
	{in: "tokens/refresh-token-number.json", code: 65, want: `token file: token.refresh_token is not a string`},
	{in: "tokens/access-token-object.json", code: 65, want: `token file: token.access_token is not a string`},
	{in: "tokens/expires-at-string.json", code: 65, want: `token file: token.expires_at: not a number`},
	{in: "tokens/expires-in-bool.json", code: 65, want: `token file: token.expires_in: not a number`},
	{in: "tokens/expires-at-huge.json", code: 65, want: `token file: token.expires_at: number 1e300 out of range`},
	{in: "tokens/creation-timestamp-string.json", code: 65, want: `token file: creation_timestamp: not a number`},
	{in: "tokens/first-login-flat.json", code: 65,
		want: `ERROR: \S+: token file: no "token" object, found tokens at the top level hint="this is the flat file the first-login helper writes \(ISO-8601 expires_at\); point --token-file at the schwab-py file`},
	{in: "tokens/(10 MB)", gen: tenMB, code: 65, want: `token file: over 1 MiB, not a schwab-py token file hint="point --token-file at the schwab-py token file`},
	{in: "tokens/(a directory)", gen: mkdir, code: 66, want: `ERROR: read token file: open \S+: not a regular file \(a directory\) hint="point --token-file at the schwab-py token file, a regular file"`},
	{in: "tokens/(missing)", gen: func(*testing.T, string) {}, code: 66, want: `ERROR: token file \S+ not found hint="pass --token-file`},
	// Odd but readable: refreshed, and what we do not know is kept.
	{in: "tokens/creation-timestamp-missing.json", want: `WARN: Token file has no creation_timestamp: the refresh token's age, and so the 7-day login deadline, is unknown`,
		check: func(t *testing.T, after []byte) {
			if bytes.Contains(after, []byte("creation_timestamp")) {
				t.Errorf("a creation_timestamp was invented:\n%s", after)
			}
		}},
	{in: "tokens/expires-at-float.json", want: `Token refreshed successfully`, check: fieldIs(`"expires_at": \d+\n`)},
	{in: "tokens/unknown-fields.json", want: `Token refreshed successfully`,
		check: fieldIs(`"dashboard_note": null,`, `"x_dashboard": \{\n\s+"nested": \[\n\s+1,\n\s+2.50,\n\s+"\\u00e9"`)},
	{in: "tokens/token-duplicate-key.json", want: `Token refreshed successfully`, check: fieldIs(`"refresh_token": "corpus-RT-9f8e`)},

	// App configs: 78 for content, 66 for a file that cannot be read.
	{in: "config/valid.yaml", want: `Token refreshed successfully`},
	{in: "config/json.yaml", want: `Token refreshed successfully`},
	{in: "config/crlf.yaml", want: `Token refreshed successfully`},
	{in: "config/utf8-bom.yaml", want: `Token refreshed successfully`},
	{in: "config/anchor.yaml", want: `Token refreshed successfully`},
	{in: "config/two-documents.yaml", want: `Token refreshed successfully`}, // the first document counts, as for yaml.Unmarshal
	{in: "config/empty.yaml", code: 78, want: `ERROR: app config \S+: app_key and app_secret must both be set ` + hintKeys},
	{in: "config/comments-only.yaml", code: 78, want: `app_key and app_secret must both be set`},
	{in: "config/secret-missing.yaml", code: 78, want: `app_key and app_secret must both be set`},
	{in: "config/key-missing.yaml", code: 78, want: `app_key and app_secret must both be set`},
	{in: "config/key-empty.yaml", code: 78, want: `app_key and app_secret must both be set`},
	{in: "config/key-null.yaml", code: 78, want: `app_key and app_secret must both be set`},
	{in: "config/tab-indent.yaml", code: 78, want: `ERROR: app config \S+ is not valid YAML: yaml: line 2: found a tab character that violates indentation ` + hintYAML},
	{in: "config/unclosed-flow.yaml", code: 78, want: `is not valid YAML: yaml: line 1: did not find expected ',' or ']'`},
	{in: "config/list.yaml", code: 78, want: `is not valid YAML: yaml: unmarshal errors: line 1: cannot unmarshal !!seq into a mapping`},
	{in: "config/secret-only.yaml", code: 78, want: `is not valid YAML: yaml: unmarshal errors: line 1: cannot unmarshal !!str into a mapping ` + hintYAML},
	{in: "config/key-mapping.yaml", code: 78, want: `cannot unmarshal !!map into string`},
	{in: "config/duplicate-key.yaml", code: 78, want: `line 3: mapping key already defined at line 1`},
	{in: "config/wrong-tag.yaml", code: 78, want: `yaml: cannot decode !!str as a !!int`},
	{in: "config/aliases.yaml", code: 78, want: `line 10: cannot unmarshal !!seq into string`},
	{in: "config/(missing)", gen: func(*testing.T, string) {}, code: 66, want: `ERROR: app config \S+ not found hint="pass --app-config`},
	{in: "config/(a directory)", gen: mkdir, code: 66, want: `ERROR: read app config: open \S+: not a regular file \(a directory\) hint="pass --app-config with the YAML file that holds app_key and app_secret"`},
	{in: "config/(plain http off loopback)", code: 78, args: []string{"--token-url", "http://api.schwabapi.com/v1/oauth/token"},
		want: `ERROR: token URL http://api.schwabapi.com/v1/oauth/token uses plain http off loopback ` + hintHTTPS},
	{in: "config/(plain http, loopback in the user part)", code: 78, args: []string{"--token-url", "http://127.0.0.1@api.schwabapi.com/v1/oauth/token"},
		want: `uses plain http off loopback`},
	{in: "config/(password in the token URL)", code: 78, args: []string{"--token-url", "http://user:pw-0123456789@api.schwabapi.com/v1/oauth/token"},
		want: `ERROR: token URL http://user:xxxxx@api.schwabapi.com/v1/oauth/token uses plain http off loopback ` + hintHTTPS},
	{in: "config/(not http)", code: 78, args: []string{"--token-url", "ftp://127.0.0.1/token"}, want: `unsupported scheme "ftp"`},

	// Token endpoint answers (REFERENCE section 2): 77 when only a new login
	// or new credentials help, 75 when a later run may succeed.
	{in: "responses/ok.http", want: `INFO: Token refreshed successfully \(expires in 30 minutes\)`, check: fieldIs(`"access_token": "corpus-AT-new-`)},
	{in: "responses/ok-extra-fields.http", want: `Token refreshed successfully`},
	{in: "responses/ok-without-refresh-token.http", want: `Token refreshed successfully`,
		check: fieldIs(`"refresh_token": "corpus-RT-9f8e7d6c5b4a39281706"`, `"creation_timestamp": 1762983055,`)},
	{in: "responses/ok-new-refresh-token.http", want: `INFO: Schwab issued a new refresh token; its 7-day clock starts now`,
		check: fieldIs(`"refresh_token": "corpus-RT-rotated-`)},
	{in: "responses/ok-token-type-mac.http", want: `WARN: Token response has token_type "mac", not Bearer; using the token as a Bearer token`,
		check: fieldIs(`"access_token": "corpus-AT-new-`, `"token_type": "mac"`)},
	{in: "responses/invalid-grant.http", code: 77, want: `ERROR: refresh token: Schwab rejected the refresh \(HTTP 400, invalid_grant\): The provided authorization grant is invalid or expired ` + hintLogin},
	{in: "responses/invalid-client.http", code: 77, want: `Schwab rejected the refresh \(HTTP 401, invalid_client\): refresh token invalid ` + hintLogin},
	{in: "responses/unsupported-token-type-nested.http", code: 77, want: `Schwab rejected the refresh \(HTTP 400, refresh_token_authentication_error\): Exception while authenticating refresh token \[\.\.\.\] ` + hintLogin},
	{in: "responses/access-denied-json.http", code: 77, want: `Schwab rejected the refresh \(HTTP 403, access_denied\): The app is not allowed to use this endpoint ` + hintApp},
	{in: "responses/400-json-without-error.http", code: 77, want: `Schwab rejected the refresh \(HTTP 400\): \{"message":"Bad Request","status":400\} ` + hintApp},
	{in: "responses/cdn-access-denied-html.http", code: 75, want: `ERROR: refresh token: 3 attempts failed, last: HTTP 403: not a JSON error \(HTML page: Access Denied\) ` + hintTemp},
	{in: "responses/html-200.http", code: 75, want: `last: HTTP 200: response is not JSON \(HTML page: Schwab Developer Portal\)`},
	{in: "responses/500-json.http", code: 75, want: `WARN: Token request attempt 1/3 failed: HTTP 500: Internal Server Error; retrying in`},
	{in: "responses/502-gateway-html.http", code: 75, want: `last: HTTP 502: Bad Gateway`},
	{in: "responses/503-gateway-html.http", code: 75, want: `last: HTTP 503: Service Unavailable`},
	{in: "responses/504-empty.http", code: 75, want: `last: HTTP 504: Gateway Timeout`},
	{in: "responses/429-retry-after.http", code: 75, want: `attempt 2/3 failed: HTTP 429: Too Many Requests; retrying in [1-9]`},
	{in: "responses/408-json.http", code: 75, want: `last: HTTP 408: Request Timeout`},
	{in: "responses/200-truncated-json.http", code: 75, want: `last: HTTP 200: response is not JSON \(67 bytes of text\)`},
	{in: "responses/200-empty.http", code: 75, want: `last: HTTP 200: response is not JSON \(empty body\)`},
	{in: "responses/200-null.http", code: 75, want: `last: HTTP 200: token response lacks access_token or expires_in`},
	{in: "responses/200-array.http", code: 75, want: `last: HTTP 200: malformed token response: json: cannot unmarshal array`},
	{in: "responses/200-access-token-missing.http", code: 75, want: `lacks access_token or expires_in`},
	{in: "responses/200-expires-in-missing.http", code: 75, want: `lacks access_token or expires_in`},
	{in: "responses/200-expires-in-zero.http", code: 75, want: `lacks access_token or expires_in`},
	{in: "responses/200-expires-in-negative.http", code: 75, want: `lacks access_token or expires_in`},
	{in: "responses/200-expires-in-huge.http", code: 75, want: `last: HTTP 200: token response has an implausible expires_in 9223372036854775807`},
	{in: "responses/200-expires-in-string.http", code: 75, want: `malformed token response: json: cannot unmarshal string`},
	{in: "responses/200-access-token-number.http", code: 75, want: `malformed token response: json: cannot unmarshal number`},
	// Tokens the bot or the file cannot carry as they are: a bad answer.
	{in: "responses/200-access-token-crlf.http", code: 75, want: `last: HTTP 200: token response has an unusable access_token: byte 23 of 32 is 0x0d, not visible ASCII`},
	{in: "responses/200-access-token-nul.http", code: 75, want: `unusable access_token: byte 23 of 31 is 0x00`},
	{in: "responses/200-access-token-esc.http", code: 75, want: `unusable access_token: byte 23 of 34 is 0x1b`},
	{in: "responses/200-access-token-space.http", code: 75, want: `unusable access_token: byte 23 of 31 is 0x20`},
	{in: "responses/200-access-token-10kb.http", code: 75, want: `unusable access_token: 10240 bytes encoded, over the 2000 that fit the bot's message`},
	{in: "responses/200-refresh-token-non-ascii.http", code: 75, want: `unusable refresh_token: byte 19 of 34 is 0xc3`},
	{in: "responses/302-redirect.http", code: 75, want: `last: HTTP 302: unexpected status`},
	{in: "responses/204-no-content.http", code: 75, want: `last: HTTP 204: unexpected status`},
	{in: "responses/(over 1 MiB)", code: 75, want: `last: HTTP 200: response body over 1 MiB`},
	{in: "responses/(connection closed)", mode: harness.ModeDown, code: 75, want: `last: token request failed: EOF`},
	{in: "responses/(no answer)", mode: harness.ModeHang, args: []string{"--http-timeout", "300ms"}, code: 75,
		want: `last: token request timed out: context deadline exceeded \(Client.Timeout exceeded while awaiting headers\)`},
	{in: "responses/(certificate not trusted)", code: 75,
		want: `last: the token endpoint's TLS certificate did not verify: tls: failed to verify certificate: x509: certificate signed by unknown authority`},

	// Bot replies, through "deliver --require-delivery" so that nothing but
	// the reply decides: 75 for any reply but OK, the file untouched.
	{in: "replies/ok", want: `INFO: Token successfully sent to trading bot socket=`},
	{in: "replies/error", code: 75, want: `WARN: Token not delivered: send token to \S+ failed after 2 attempts: bot rejected the message \(replied ERROR\)`},
	{in: "replies/none", want: `INFO: Token sent to trading bot: it read the token and closed without a reply, counted as delivered`},
	{in: "replies/ok-newline", code: 75, want: `failed after 2 attempts: unexpected reply "OK\\n"`},
	{in: "replies/ok-lowercase", code: 75, want: `unexpected reply "ok"`},
	{in: "replies/okay", code: 75, want: `unexpected reply "OKAY"`},
	{in: "replies/error-cut", code: 75, want: `unexpected reply "ER"`},
	{in: "replies/error-with-text", code: 75, want: `unexpected reply "ERROR: expires_at is not an integer"`},
	{in: "replies/binary", code: 75, want: `unexpected reply "\\x00\\xff\\xfeOK"`},
	{in: "replies/long", code: 75, want: `unexpected reply "OK{63}"`},
	{in: "replies/http", code: 75, want: `unexpected reply "HTTP/1.1 400 Bad Request\\r\\n\\r\\n"`},
	{in: "replies/(silent)", code: 75, args: []string{"--socket-timeout", "200ms"}, want: `read acknowledgement: i/o timeout`},
	{in: "replies/(not running)", code: 75, want: `WARN: Bot socket not found - trading bot may not be running socket=`},
	{in: "replies/(error, delivery not required)", want: `WARN: Token not delivered: .*replied ERROR`},
}

// TestCorpus runs the command line, in process, once per corpus input:
// token files and app configs through "run" against the fake endpoint,
// token responses replayed by a test server, bot replies through "deliver"
// to a test socket. Each case has its exit code and its message; after a
// failure the token file is byte-identical; no temp file is left; and no
// token or secret appears in anything the run printed at debug level:
// stdout, stderr, the log file, the metrics file.
func TestCorpus(t *testing.T) {
	checkCorpusCovered(t)
	t.Cleanup(seam.Fast())
	for _, tc := range corpusCases {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			runCorpusCase(t, tc)
		})
	}
}

func runCorpusCase(t *testing.T, tc corpusCase) {
	kind, name, _ := strings.Cut(tc.in, "/")
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "schwab_tokens.json")
	appConfig := filepath.Join(dir, "schwab_app_config.yaml")
	logFile := filepath.Join(dir, "refresh.log")
	metrics := filepath.Join(dir, "refresh_token.prom")
	var inputs [][]byte // what the secrets are taken from

	// input writes the case's input to dst, or the valid default when the
	// case is about something else.
	input := func(dst, deflt string) {
		src := deflt
		if kind == strings.Split(deflt, "/")[0] {
			if tc.gen != nil {
				tc.gen(t, dst)
				return
			}
			if !strings.HasPrefix(name, "(") {
				src = tc.in
			}
		}
		data := readCorpus(t, src)
		if kind == "replies" && src == "tokens/valid.json" {
			// deliver pushes only an access token that has not expired.
			exp := time.Now().Add(20 * time.Minute).Unix()
			data = regexp.MustCompile(`"expires_at": \d+`).ReplaceAll(data, []byte(`"expires_at": `+strconv.FormatInt(exp, 10)))
		}
		inputs = append(inputs, data)
		if err := os.WriteFile(dst, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	input(tokenFile, "tokens/valid.json")
	input(appConfig, "config/valid.yaml")

	sock := filepath.Join(dir, "no-bot.sock")
	requests := func() int { return 0 }
	flags := []string{"--token-file", tokenFile, "--log-file", logFile, "--log-level", "debug", "--retries", "2", "--retry-delay", "0s"}
	var args []string
	if kind == "replies" {
		if name != "(not running)" {
			sock = replySocket(t, tc, &inputs)
		}
		args = append(append([]string{"deliver"}, flags...), "--socket", sock)
		if !strings.Contains(name, "not required") {
			args = append(args, "--require-delivery")
		}
	} else {
		var url string
		url, requests = tokenEndpoint(t, tc, kind, name, &inputs)
		args = append(append([]string{"run"}, flags...), "--socket", sock, "--app-config", appConfig, "--token-url", url, "--metrics-file", metrics, "--http-timeout", "5s")
	}
	args = append(args, tc.args...)

	before, _ := os.ReadFile(tokenFile)
	var stdout, stderr bytes.Buffer
	code := cli.Main(cli.Build{Version: "corpus"}, args, &stdout, &stderr)
	after, _ := os.ReadFile(tokenFile)
	logged, _ := os.ReadFile(logFile)
	prom, _ := os.ReadFile(metrics)
	out := stderr.String()

	if code != tc.code {
		t.Errorf("exit %d, want %d", code, tc.code)
	}
	if !regexp.MustCompile(`(?m)` + tc.want).MatchString(out) {
		t.Errorf("stderr does not match %s", tc.want)
	}
	if tc.code != 0 {
		if !regexp.MustCompile(`(?m)^\[[^]]+\] ERROR: .* hint=".+" exit=` + strconv.Itoa(tc.code) + `$`).MatchString(out) {
			t.Errorf("no ERROR line with a hint and exit=%d", tc.code)
		}
		if !bytes.Equal(before, after) {
			t.Errorf("token file changed by a failed run:\n%s", after)
		}
		// Bad input fails before the network; a rejection is final; a
		// temporary failure is tried 3 times (a TLS failure never arrives).
		want := 0
		switch {
		case kind != "responses", strings.Contains(name, "certificate"):
		case tc.code == 77:
			want = 1
		default:
			want = 3
		}
		if n := requests(); n != want {
			t.Errorf("%d token requests, want %d", n, want)
		}
	} else {
		if strings.Contains(out, "] ERROR: ") {
			t.Errorf("ERROR in a successful run")
		}
		if tc.check != nil {
			tc.check(t, after)
		}
	}
	if stdout.Len() > 0 {
		t.Errorf("stdout: %q", stdout.String())
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		// The log file gets every line, timestamped on its own.
		if _, msg, _ := strings.Cut(line, "] "); !bytes.Contains(logged, []byte(msg)) {
			t.Errorf("log file lacks %q", msg)
		}
	}
	checkLeftovers(t, dir)
	for what, text := range map[string][]byte{"stdout": stdout.Bytes(), "stderr": stderr.Bytes(), "log file": logged, "metrics file": prom} {
		for _, s := range secrets(inputs) {
			if bytes.Contains(text, []byte(s)) {
				t.Errorf("%s shows the secret %s", what, s)
			}
		}
	}
	if t.Failed() {
		t.Logf("args: %q\nstderr:\n%s", args, out)
	}
}

// tokenEndpoint serves the case's token answer on loopback and returns its
// URL and the number of token requests it has had.
func tokenEndpoint(t *testing.T, tc corpusCase, kind, name string, inputs *[][]byte) (string, func() int) {
	if kind == "responses" && tc.mode == "" {
		var data []byte
		switch {
		case name == "(over 1 MiB)":
			data = []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
			data = append(data, `{"access_token":"x","expires_in":1800,"pad":"`...)
			data = append(data, bytes.Repeat([]byte("x"), harness.MaxTokenBody)...)
			data = append(data, `"}`...)
		case strings.HasPrefix(name, "("):
			data = readCorpus(t, "responses/ok.http")
		default:
			data = readCorpus(t, tc.in)
		}
		*inputs = append(*inputs, data)
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		body := new(bytes.Buffer)
		body.ReadFrom(resp.Body)
		var n atomic.Int64
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			for k, v := range resp.Header {
				w.Header()[k] = v
			}
			w.WriteHeader(resp.StatusCode)
			w.Write(body.Bytes())
		})
		srv := httptest.NewUnstartedServer(h)
		if name == "(certificate not trusted)" {
			srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake errors we cause
			srv.StartTLS()
		} else {
			srv.Start()
		}
		t.Cleanup(srv.Close)
		return srv.URL + harness.TokenPath, func() int { return int(n.Load()) }
	}
	mode := tc.mode
	if mode == "" {
		mode = harness.ModeOK
	}
	fake := harness.NewSchwab(harness.SchwabConfig{AppKey: corpusAppKey, AppSecret: corpusAppSecret, RefreshToken: corpusRT, Modes: []harness.Mode{mode}})
	srv := httptest.NewServer(fake)
	t.Cleanup(func() { fake.Close(); srv.Close() })
	return srv.URL + harness.TokenPath, fake.Requests
}

// replySocket serves the case's bot reply on a Unix socket: one read of the
// message, the reply, close. It returns the socket's path.
func replySocket(t *testing.T, tc corpusCase, inputs *[][]byte) string {
	reply := []byte("ERROR")
	switch {
	case tc.in == "replies/(silent)":
		reply = nil
	case !strings.HasPrefix(tc.in, "replies/("):
		reply = readCorpus(t, tc.in)
	}
	*inputs = append(*inputs, reply)
	path := filepath.Join(testutil.ShortTempDir(t), "bot.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, harness.MaxMessage)
			if n, _ := c.Read(buf); n == 0 {
				t.Errorf("connection without a message")
			}
			if reply == nil {
				<-ctx.Done() // hold the connection, say nothing
			} else if len(reply) > 0 {
				c.Write(reply)
			}
			c.Close()
		}
	})
	t.Cleanup(func() {
		cancel()
		ln.Close()
		wg.Wait()
	})
	return path
}

// checkCorpusCovered fails if a corpus file has no case: a file added
// without its expected outcome would test nothing.
func checkCorpusCovered(t *testing.T) {
	t.Helper()
	var files []string
	for _, kind := range []string{"tokens", "config", "responses", "replies"} {
		f, err := filepath.Glob(filepath.Join(corpus, kind, "*"))
		if err != nil || len(f) == 0 {
			t.Fatalf("no corpus in %s: %v", kind, err)
		}
		files = append(files, f...)
	}
	seen := map[string]bool{}
	for _, tc := range corpusCases {
		if seen[tc.in] {
			t.Errorf("%s: two cases", tc.in)
		}
		seen[tc.in] = true
	}
	for _, f := range files {
		rel, _ := filepath.Rel(corpus, f)
		if !seen[filepath.ToSlash(rel)] {
			t.Errorf("%s has no case in corpusCases", rel)
		}
	}
}

func readCorpus(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(corpus, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// secrets are the tokens and the app secret in the inputs: long "corpus"
// values, of which a log line may show at most a short prefix.
func secrets(inputs [][]byte) []string {
	re := regexp.MustCompile(`corpus[-A-Za-z0-9]{10,}`)
	var s []string
	for _, in := range inputs {
		for _, m := range re.FindAll(in, -1) {
			s = append(s, string(m))
		}
	}
	slices.Sort(s)
	return slices.Compact(s)
}

// checkLeftovers fails on temp files beside the token file and on a lock
// or log file that others could read.
func checkLeftovers(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), "-tmp-") {
			t.Errorf("temp file left: %s", e.Name())
		}
		if n := e.Name(); strings.HasSuffix(n, ".lock") || strings.HasSuffix(n, ".log") {
			if info, err := e.Info(); err == nil && info.Mode().Perm() != 0o600 {
				t.Errorf("%s has mode %s, want 0600", n, info.Mode().Perm())
			}
		}
	}
}

func fieldIs(res ...string) func(*testing.T, []byte) {
	return func(t *testing.T, after []byte) {
		for _, re := range res {
			if !regexp.MustCompile(re).Match(after) {
				t.Errorf("token file does not match %s:\n%s", re, after)
			}
		}
	}
}

// tenMB writes a token file that parses, padded to 10 MB by an unknown field.
func tenMB(t *testing.T, path string) {
	data := readCorpus(t, "tokens/valid.json")
	pad := `{"padding": "` + strings.Repeat("x", 10<<20) + `",`
	data = append([]byte(pad), bytes.TrimPrefix(data, []byte("{"))...)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, path string) {
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
}
