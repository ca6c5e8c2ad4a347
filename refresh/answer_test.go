package refresh

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/refresh-token/refresh-token/harness"
	"github.com/refresh-token/refresh-token/internal/exit"
	"github.com/refresh-token/refresh-token/internal/fixture"
	"github.com/refresh-token/refresh-token/internal/testutil"
	"github.com/refresh-token/refresh-token/store"
)

// What a run writes, the next run reads. An answer with a field nested so
// deep that the file would be refused is a bad answer: exit 75, the file
// unchanged, nothing sent; one level less is written, and read back.
func TestDeepAnswerIsABadAnswer(t *testing.T) {
	for _, tt := range []struct {
		levels int // of the answer's extra field; the file adds 2
		code   int
	}{
		{30, exit.OK},
		{31, exit.TempFail},
		{2000, exit.TempFail},
	} {
		r := fixture.NewRig(t, harness.SchwabConfig{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, `{"access_token":"AT-deep","expires_in":1800,"token_type":"Bearer","x":`+
				strings.Repeat("[", tt.levels)+strings.Repeat("]", tt.levels)+`}`)
		}))
		before := testutil.Read(t, r.Tokens)
		sock, sent := testutil.Listen(t)
		var logs bytes.Buffer
		o := options(r, &logs)
		o.TokenURL, o.Force = srv.URL, true
		o.Delivery.Sockets = []string{sock}
		_, err := Run(context.Background(), o)
		srv.Close()
		if exit.Code(err) != tt.code {
			t.Fatalf("%d levels: exit %d (%v), want %d\n%s", tt.levels, exit.Code(err), err, tt.code, logs.String())
		}
		after := testutil.Read(t, r.Tokens)
		if _, rerr := store.ParseTokenFile(after); rerr != nil {
			t.Fatalf("%d levels: the next run would refuse the file: %v", tt.levels, rerr)
		}
		n := sent()
		if tt.code == exit.OK {
			if bytes.Equal(after, before) || n == 0 {
				t.Errorf("%d levels: file changed %v, %d bytes sent; want the new file delivered", tt.levels, !bytes.Equal(after, before), n)
			}
			continue
		}
		if !strings.Contains(err.Error(), "cannot be kept in the token file") || !strings.Contains(exit.Hint(err), "nothing was sent") {
			t.Errorf("%d levels: %v (hint %q)", tt.levels, err, exit.Hint(err))
		}
		if !bytes.Equal(after, before) || n != 0 {
			t.Errorf("%d levels: file changed %v, %d bytes sent; want neither", tt.levels, !bytes.Equal(after, before), n)
		}
	}
}
