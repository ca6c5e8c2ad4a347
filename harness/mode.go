package harness

import (
	"fmt"
	"strings"
)

// Mode selects how the fake token endpoint answers one request. Modes are
// named by strings so that the command line and the control endpoint can
// take them.
type Mode string

// Answers that pass the request checks first, like Schwab's own server.
const (
	ModeOK                   Mode = "ok"                     // 200 with a fresh access token
	ModeInvalidGrant         Mode = "invalid_grant"          // 400, the standard OAuth rejection
	ModeInvalidClient        Mode = "invalid_client"         // 401, seen near the 7-day mark
	ModeUnsupportedTokenType Mode = "unsupported_token_type" // 400, Schwab's nested rejection
	ModeOther4xx             Mode = "other_4xx"              // 403 access_denied, JSON
	ModeSlow                 Mode = "slow"                   // ok after SchwabConfig.Delay
	ModeMalformed            Mode = "malformed"              // 200, body not JSON
	ModeMissing              Mode = "missing"                // 200 JSON without access_token
	ModeOversized            Mode = "oversized"              // 200, body over 1 MiB
	ModeNoRefresh            Mode = "no_refresh"             // ok without refresh_token
	ModeRotate               Mode = "rotate"                 // ok with a new refresh_token
)

// Failures of the infrastructure in front of Schwab: answered before any
// check of the request.
const (
	Mode500     Mode = "500"     // JSON server_error
	Mode502     Mode = "502"     // gateway HTML
	Mode503     Mode = "503"     // gateway HTML
	Mode429     Mode = "429"     // JSON, Retry-After: 1
	Mode408     Mode = "408"     // JSON request timeout
	ModeHTML    Mode = "html"    // 403 with the CDN's "Access Denied" page
	ModeHTML200 Mode = "html200" // 200 with an HTML page
	ModeHang    Mode = "hang"    // no answer until the client gives up
	ModeDown    Mode = "down"    // connection closed without an answer
)

// FlakyThenOK is the sequence of a transient outage that clears up.
var FlakyThenOK = []Mode{Mode503, Mode503, ModeOK}

// AllModes lists every mode, in the order of the documentation.
var AllModes = []Mode{
	ModeOK, ModeInvalidGrant, ModeInvalidClient, ModeUnsupportedTokenType,
	ModeOther4xx, Mode500, Mode502, Mode503, Mode429, Mode408, ModeHTML,
	ModeHTML200, ModeSlow, ModeHang, ModeMalformed, ModeMissing,
	ModeOversized, ModeNoRefresh, ModeRotate, ModeDown,
}

func (m Mode) valid() bool {
	for _, k := range AllModes {
		if m == k {
			return true
		}
	}
	return false
}

// ParseModes reads a comma-separated list of modes; "flaky-then-ok" stands
// for 503,503,ok.
func ParseModes(s string) ([]Mode, error) {
	var modes []Mode
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		switch m := Mode(f); {
		case f == "flaky-then-ok":
			modes = append(modes, FlakyThenOK...)
		case m.valid():
			modes = append(modes, m)
		default:
			return nil, fmt.Errorf("unknown mode %q (want one of %s, flaky-then-ok)", f, modeList())
		}
	}
	return modes, nil
}

func modeList() string {
	return strings.ReplaceAll(joinModes(AllModes), ",", ", ")
}
