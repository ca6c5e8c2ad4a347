// Command demobrowser plays the browser in make demo-login when curl is
// missing: it reads the login's output, opens the authorization URL and
// follows Schwab's redirect to the login's callback, accepting the
// throwaway certificate only when its fingerprint is the printed one.
//
//	go run ./internal/demobrowser LOGIN-OUTPUT-FILE
package main

import (
	"fmt"
	"os"
	"regexp"

	"github.com/refresh-token/refresh-token/internal/testutil"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: demobrowser LOGIN-OUTPUT-FILE")
		os.Exit(64)
	}
	authURL, fp, err := testutil.WaitLoginPrompt(func() string {
		data, _ := os.ReadFile(os.Args[1])
		return string(data)
	}, false)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demobrowser:", err)
		os.Exit(1)
	}
	v, err := testutil.Browser{Fingerprint: fp}.Login(authURL)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demobrowser:", err)
		os.Exit(1)
	}
	if m := regexp.MustCompile(`<p>(.*)</p>`).FindStringSubmatch(v.Page); m != nil {
		fmt.Println("page:", m[1])
	}
}
