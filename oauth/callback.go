package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/refresh-token/refresh-token/internal/exit"
)

// pageWait bounds how long the browser's request waits for the outcome of
// the exchange and write that its code started.
const pageWait = 2 * time.Minute

// loudRefusals is how many refused requests are logged at WARN; the rest
// go to DEBUG, and their number is logged when the login ends.
const loudRefusals = 3

// maxQuoted bounds what a log line quotes of a request.
const maxQuoted = 80

// CallbackServer is the login's HTTPS listener on the callback URL, with a
// throwaway self-signed certificate made in memory. It hands the first
// redirect with the right state to Wait and shows the browser a short page.
type CallbackServer struct {
	// Fingerprint is the SHA-256 of the certificate, as browsers show it.
	Fingerprint string

	path    string
	state   string
	log     *slog.Logger
	srv     *http.Server
	arrived chan arrival
	closing chan struct{}
	once    sync.Once
	served  chan struct{}

	mu      sync.Mutex
	taken   bool          // a code (or an error) was handed over: later requests wait for its outcome
	outcome Outcome       // the outcome, once decided is closed
	decided chan struct{} // closed when the outcome is known
	refused int           // requests refused so far
}

// arrival is one redirect with the right state.
type arrival struct {
	code  string
	err   error
	reply chan Outcome // nil for an error: its page is already written
}

// Outcome is what the browser's page says after the exchange.
type Outcome struct {
	OK      bool
	Message string // one sentence, no token or secret
}

// ListenCallback starts the listener for callback, the URL CheckCallbackURL
// accepted, before the authorization URL is shown. It serves only
// connections from our own uid, root, and the uids in trust (the login
// adds $SUDO_UID and --trust-uid): see guard. A busy port is exit 75; a
// port the system refuses to bind (below 1024 without privileges) is exit
// 77; both name the port.
func ListenCallback(callback *url.URL, state string, trust []int, log *slog.Logger) (*CallbackServer, error) {
	cert, fp, err := selfSigned()
	if err != nil {
		return nil, exit.Fail(exit.Software, "report a bug", "make the callback certificate: %w", err)
	}
	port := CallbackPort(callback)
	addr := net.JoinHostPort(CallbackHost, port)
	ln, err := net.Listen("tcp", addr)
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, exit.Fail(exit.TempFail,
			fmt.Sprintf("stop the program that listens there (ss -ltnp 'sport = :%s' names it; an earlier login may still run), or use --manual", port),
			"callback port %s is busy: another program listens on %s", port, addr)
	case errors.Is(err, syscall.EACCES):
		return nil, exit.Fail(exit.NoPerm,
			"use --manual to paste the redirected URL instead, or register a callback URL with a port above 1023 (e.g. https://127.0.0.1:8182) in the Schwab developer portal and the app config",
			"binding the callback port %s on %s was refused: ports below 1024 need privileges", port, CallbackHost)
	case err != nil:
		return nil, exit.Fail(exit.TempFail, "check that the loopback interface is up, or use --manual",
			"listen on the callback address %s: %w", addr, err)
	}
	s := &CallbackServer{
		Fingerprint: fp,
		path:        callbackPath(callback),
		state:       state,
		log:         log,
		arrived:     make(chan arrival),
		closing:     make(chan struct{}),
		served:      make(chan struct{}),
		decided:     make(chan struct{}),
	}
	s.srv = &http.Server{
		Handler: s,
		// A redirect is one small GET: nothing is read for long, and no
		// idle connection is kept (each page also says Connection: close).
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       10 * time.Second,
		IdleTimeout:       time.Second,
		MaxHeaderBytes:    64 << 10,
		// A browser that meets the certificate warning drops the handshake:
		// expected, and not worth a log line above debug.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	trusted := append([]int{os.Getuid(), os.Geteuid(), 0}, trust...)
	tl := tls.NewListener(newGuard(ln, trusted, log), &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	go func() {
		defer close(s.served)
		s.srv.Serve(tl)
	}()
	return s, nil
}

// selfSigned makes an ECDSA P-256 certificate for 127.0.0.1, valid for a
// day, that never touches the disk, and its SHA-256 fingerprint.
func selfSigned() (tls.Certificate, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return tls.Certificate{}, "", err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "refresh-token login (throwaway)"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IPAddresses:           []net.IP{net.ParseIP(CallbackHost)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, Fingerprint(der), nil
}

// Fingerprint is the SHA-256 of a DER certificate in the colon-separated
// upper-case hex that browsers show.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	var b strings.Builder
	for i, c := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}

// ServeHTTP takes the redirect: on the callback path, the right state and a
// code or an error. Anything else gets a 4xx page and the login goes on
// waiting.
func (s *CallbackServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if r.URL.Path != s.path {
		page(w, http.StatusNotFound, "Not found", "This is refresh-token's login callback; nothing is served here.")
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		page(w, http.StatusMethodNotAllowed, "Method not allowed", "The login callback takes a GET.")
		return
	}
	code, err := ReadCallback(r.URL.RawQuery, s.state)
	var denied *DeniedError
	switch {
	case errors.Is(err, ErrState):
		s.refuse("its state does not match this login's (a stale tab or another login?)")
		page(w, http.StatusBadRequest, "Wrong login",
			"This redirect does not belong to the login that is waiting (its state does not match). Nothing was done. Use the URL that refresh-token login printed last.")
		return
	case errors.As(err, &denied):
	case err != nil:
		s.refuse(err.Error())
		page(w, http.StatusBadRequest, "Not a login redirect", "This request carries no authorization code. Nothing was done.")
		return
	}

	s.mu.Lock()
	taken := s.taken
	s.taken = true
	s.mu.Unlock()
	if taken {
		s.later(w)
		return
	}
	a := arrival{code: code, err: err}
	if denied == nil {
		a.reply = make(chan Outcome, 1)
	}
	select {
	case s.arrived <- a:
	case <-s.closing:
		page(w, http.StatusServiceUnavailable, "Login ended", "refresh-token login stopped before this redirect arrived. Run it again.")
		return
	}
	if denied != nil {
		s.decide(Outcome{Message: denied.Error() + ". Nothing was changed."})
		page(w, http.StatusForbidden, "Login refused", denied.Error()+". Nothing was changed. Close this tab and see the terminal.")
		return
	}
	outcome := func(o Outcome) {
		if o.OK {
			page(w, http.StatusOK, "Logged in", o.Message+" You can close this tab.")
		} else {
			page(w, http.StatusBadGateway, "Login failed", o.Message+" See the terminal for what to do.")
		}
	}
	select {
	case o := <-a.reply:
		outcome(o)
	case <-s.closing:
		select { // an outcome sent just before Close wins
		case o := <-a.reply:
			outcome(o)
		default:
			page(w, http.StatusServiceUnavailable, "Login ended", "refresh-token login stopped before the code was exchanged. See the terminal.")
		}
	case <-time.After(pageWait):
		page(w, http.StatusGatewayTimeout, "Still working", "The code was received; see the terminal for the outcome.")
	}
}

// later answers a request that came after the first with the right state
// (a reload, a second tab): it waits for the outcome of the first, so that
// the page ends up saying whether the login succeeded. A code is used once.
func (s *CallbackServer) later(w http.ResponseWriter) {
	select {
	case <-s.decided:
		o := s.outcome
		if o.OK {
			page(w, http.StatusConflict, "Already done", o.Message+" (A code is used once: this page was loaded again.) You can close this tab.")
		} else {
			page(w, http.StatusConflict, "Already done", o.Message+" (A code is used once: this page was loaded again.) See the terminal for what to do.")
		}
	case <-s.closing:
		page(w, http.StatusServiceUnavailable, "Login ended", "refresh-token login stopped; see the terminal for the outcome.")
	case <-time.After(pageWait):
		page(w, http.StatusGatewayTimeout, "Still working", "The code was received; see the terminal for the outcome.")
	}
}

// decide records the outcome for the requests that wait on it; the first
// call counts.
func (s *CallbackServer) decide(o Outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.decided:
	default:
		s.outcome = o
		close(s.decided)
	}
}

// refuse logs a refused request: at WARN for the first loudRefusals, at
// DEBUG after, so that a flood of requests cannot flood the log. why
// quotes at most maxQuoted characters of the request.
func (s *CallbackServer) refuse(why string) {
	s.mu.Lock()
	s.refused++
	n := s.refused
	s.mu.Unlock()
	msg := "Login callback refused: " + printable(why, maxQuoted) + "; still waiting"
	if n > loudRefusals {
		s.log.Debug(msg)
		return
	}
	if n == loudRefusals {
		msg += " (further refusals are logged at debug level)"
	}
	s.log.Warn(msg)
}

// page writes a short HTML page; it never holds a token. The connection is
// closed after it: a login needs one request.
func page(w http.ResponseWriter, status int, title, text string) {
	w.Header().Set("Connection", "close")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>refresh-token: %s</title></head>\n<body><h1>%s</h1>\n<p>%s</p></body></html>\n",
		html.EscapeString(title), html.EscapeString(title), html.EscapeString(text))
}

// Wait returns the code of the first redirect with the right state, and the
// function that tells the waiting browser the outcome (call it exactly once,
// after the exchange and the write). A redirect that carried an error
// returns a *DeniedError. ctx ends the wait.
func (s *CallbackServer) Wait(ctx context.Context) (code string, reply func(Outcome), err error) {
	select {
	case a := <-s.arrived:
		if a.err != nil {
			return "", nil, a.err
		}
		return a.code, func(o Outcome) { s.decide(o); a.reply <- o }, nil
	case <-ctx.Done():
		return "", nil, ctx.Err()
	}
}

// Close stops the listener after the page in flight, if any, is written.
func (s *CallbackServer) Close() {
	s.once.Do(func() {
		s.mu.Lock()
		if quiet := s.refused - loudRefusals; quiet > 0 {
			s.log.Warn(fmt.Sprintf("Login callback refused %d more requests, logged at debug level", quiet))
		}
		s.mu.Unlock()
		close(s.closing)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if s.srv.Shutdown(ctx) != nil {
			s.srv.Close()
		}
		<-s.served
	})
}
