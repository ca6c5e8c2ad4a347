package oauth

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/testutil"
)

// FuzzClassify: any answer of the token endpoint is exactly one of a
// response, a rejection (77) or a temporary failure (75), with a hint; a
// response has a usable token; only a 4xx is a rejection.
func FuzzClassify(f *testing.F) {
	for _, s := range seeds(f, "corpus/responses/*.http") {
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(s)), nil)
		if err != nil {
			f.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		f.Add(resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte) {
		h := http.Header{}
		if retryAfter != "" {
			h.Set("Retry-After", retryAfter)
		}
		r, err := Classify(status, h, body)
		if (r == nil) == (err == nil) {
			t.Fatalf("response %v and error %v", r, err)
		}
		if r != nil {
			if status != http.StatusOK || r.AccessToken == "" || r.ExpiresIn <= 0 || r.ExpiresIn > maxExpiresIn {
				t.Fatalf("status %d accepted as %+v", status, r)
			}
			// What is accepted fits the bot's message and the token file.
			if checkToken("access_token", r.AccessToken) != nil || checkToken("refresh_token", r.RefreshToken) != nil {
				t.Fatalf("unusable tokens accepted: %q, %q", r.AccessToken, r.RefreshToken)
			}
			return
		}
		var rej *RejectedError
		var tmp *TemporaryError
		isRej, isTmp := errors.As(err, &rej), errors.As(err, &tmp)
		switch {
		case isRej == isTmp:
			t.Fatalf("%T %v: rejection %v, temporary %v; want exactly one", err, err, isRej, isTmp)
		case isRej && (status < 400 || status > 499 || status == 408 || status == 429):
			t.Fatalf("status %d is a rejection: %v", status, err)
		case isRej && exit.Code(err) != exit.NoPerm, isTmp && exit.Code(err) != exit.TempFail:
			t.Fatalf("%v: exit %d", err, exit.Code(err))
		case exit.Hint(err) == "" || err.Error() == "":
			t.Fatalf("%#v: no message or no hint", err)
		}
	})
}

// seeds reads the corpus files of TestCorpus that match globs.
func seeds(f *testing.F, globs ...string) [][]byte {
	return testutil.Seeds(f, filepath.Join("..", "testdata"), globs...)
}
