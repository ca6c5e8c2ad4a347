package testutil

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Tokens writes a token file whose access token expires at expiresAt
// (issued 1800 s before) and whose refresh token was created at created
// (0: no creation_timestamp). It returns the path.
func Tokens(t *testing.T, dir string, expiresAt, created int64) string {
	t.Helper()
	top := `"creation_timestamp": ` + strconv.FormatInt(created, 10) + ",\n    "
	if created == 0 {
		top = ""
	}
	data := fmt.Sprintf(`{
    %s"token": {
        "expires_in": 1800,
        "token_type": "Bearer",
        "scope": "api",
        "refresh_token": "RT-secret-refresh",
        "access_token": "AT-secret-access",
        "id_token": "ID",
        "expires_at": %d
    }
}
`, top, expiresAt)
	p := filepath.Join(dir, "tokens.json")
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Listen serves a socket that accepts and closes, counting the bytes it is
// sent; the count arrives on the returned channel when the test ends.
func Listen(t *testing.T) (string, func() int) {
	t.Helper()
	path := filepath.Join(ShortTempDir(t), "bot.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	total := make(chan int, 1)
	go func() {
		n := 0
		defer func() { total <- n }()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			k, _ := io.Copy(io.Discard, c)
			n += int(k)
			c.Close()
		}
	}()
	closed := false
	stop := func() int {
		if !closed {
			closed = true
			ln.Close()
		}
		return <-total
	}
	t.Cleanup(func() {
		if !closed {
			stop()
		}
	})
	return path, stop
}
