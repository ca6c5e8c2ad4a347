package harness

import (
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Control returns the handler of the control endpoints, for scripts that
// drive a fake endpoint running as a process:
//
//	POST /control/modes     body "ok,503,..." replaces the answer sequence
//	GET  /control/requests  the number of token requests so far
func (s *Schwab) Control() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /control/modes", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 4096))
		if err != nil {
			http.Error(w, fmt.Sprintf("read modes: %v", err), http.StatusBadRequest)
			return
		}
		modes, err := ParseModes(strings.TrimSpace(string(body)))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.SetModes(modes...)
		s.logf("modes set to %s", joinModes(modes))
		fmt.Fprintln(w, joinModes(modes))
	})
	mux.HandleFunc("GET /control/requests", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, s.Requests())
	})
	return mux
}

// Handler serves the token endpoint, the authorization endpoint and the
// control endpoints together; POST /control/authorize with "allow" or
// "deny" switches what the authorization endpoint does.
func (s *Schwab) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(TokenPath, s)
	mux.HandleFunc(AuthorizePath, s.authorize)
	mux.HandleFunc("POST /control/authorize", s.controlAuthorize)
	mux.Handle("/control/", s.Control())
	return mux
}

func joinModes(modes []Mode) string {
	names := make([]string, len(modes))
	for i, m := range modes {
		names[i] = string(m)
	}
	return strings.Join(names, ",")
}
