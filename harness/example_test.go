package harness_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/refresh-token/refresh-token/harness"
)

func ExampleSchwab() {
	fake := harness.NewSchwab(harness.SchwabConfig{
		AppKey: "key", AppSecret: "secret", RefreshToken: "RT",
		Modes: harness.FlakyThenOK,
	})
	srv := httptest.NewServer(fake.Handler())
	defer srv.Close()
	defer fake.Close()

	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"RT"}}
	for range 3 {
		req, _ := http.NewRequest("POST", srv.URL+harness.TokenPath, strings.NewReader(form.Encode()))
		req.SetBasicAuth(url.QueryEscape("key"), url.QueryEscape("secret"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		fmt.Println(resp.Status)
	}
	fmt.Println("requests:", fake.Requests())
	// Output:
	// 503 Service Unavailable
	// 503 Service Unavailable
	// 200 OK
	// requests: 3
}

func ExampleReceiver() {
	dir, _ := os.MkdirTemp("", "bs")
	defer os.RemoveAll(dir)
	r := &harness.Receiver{Path: filepath.Join(dir, "bot.sock")}
	if err := r.Listen(); err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Serve(ctx) }()
	defer func() { cancel(); <-done }()

	c, err := net.Dial("unix", r.Path)
	if err != nil {
		fmt.Println(err)
		return
	}
	c.Write([]byte(`{"access_token":"AT","refresh_token":"RT","expires_at":1762984855}`))
	reply, _ := io.ReadAll(c)
	c.Close()

	m, _ := r.Current()
	fmt.Printf("%s %+v\n", reply, m)
	// Output:
	// OK {AccessToken:AT RefreshToken:RT ExpiresAt:1762984855}
}
