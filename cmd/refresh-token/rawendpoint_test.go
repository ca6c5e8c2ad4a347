package main

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync/atomic"

	"github.com/rogpeppe/go-internal/testscript"
)

// rawendpoint NAME FILE: serve FILE, a raw HTTP response (status line,
// headers, body), on loopback to every request; set NAME to its token URL
// NAME_HOST to its host:port, and NAME_REQUESTS to a file that holds the number of requests so far,
// rewritten on each one (read it with "grep"). For answers bot-sim schwab
// does not give: tokens with control characters, oversized tokens.
func cmdRawEndpoint(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: rawendpoint NAME FILE")
	}
	data := []byte(ts.ReadFile(args[1]))
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), nil)
	ts.Check(err)
	body, err := io.ReadAll(resp.Body)
	ts.Check(err)
	counter := ts.MkAbs(args[0] + ".requests")
	ts.Check(os.WriteFile(counter, []byte("0"), 0o600))
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := os.WriteFile(counter, strconv.AppendInt(nil, n.Add(1), 10), 0o600); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(body)
	}))
	ts.Defer(srv.Close)
	ts.Setenv(args[0], srv.URL+"/v1/oauth/token")
	ts.Setenv(args[0]+"_HOST", srv.Listener.Addr().String())
	ts.Setenv(args[0]+"_REQUESTS", counter)
}
