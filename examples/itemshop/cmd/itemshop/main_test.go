package main

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Every phase of a connection has a bound, each larger than the last it
// contains, and all longer than the 3 s WeChat gives a push.
func TestServerTimeouts(t *testing.T) {
	srv := newHTTPServer("127.0.0.1:0", http.NotFoundHandler())
	assert.Greater(t, srv.ReadHeaderTimeout.Seconds(), 3.0)
	assert.Greater(t, srv.ReadTimeout, srv.ReadHeaderTimeout)
	assert.Greater(t, srv.WriteTimeout, srv.ReadTimeout)
	assert.Greater(t, srv.IdleTimeout, srv.WriteTimeout)
}

// Missing settings and a bad database are reported before anything
// listens; the DSN, which may hold a password, is not echoed.
func TestRunRejects(t *testing.T) {
	env := map[string]string{"MIDAS_APPID": "wx1234567", "MIDAS_OFFER_ID": "12345678", "MIDAS_APPKEY": "zNLgAGgqsEWJOg1nFVaO5r7fAlIQxr1u",
		"MIDAS_ACCESS_TOKEN": "ACCESSTOKEN", "MIDAS_PUSH_TOKEN": "pushtoken", "ITEMSHOP_ADDR": "127.0.0.1:1"}
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	err := run(ctx, nil, func(string) string { return "" })
	assert.ErrorContains(t, err, "set MIDAS_APPID, MIDAS_OFFER_ID, MIDAS_APPKEY, MIDAS_ACCESS_TOKEN, MIDAS_PUSH_TOKEN")
	err = run(ctx, []string{"-driver", "oracle", "-dsn", "scott:tiger-secret@db"}, getenv)
	assert.ErrorContains(t, err, `unknown driver "oracle"`)
	assert.NotContains(t, err.Error(), "tiger-secret")
	err = run(ctx, []string{"-dsn", filepath.Join(t.TempDir(), "no", "such", "dir", "shop.db")}, getenv)
	assert.Error(t, err)
	for _, dsn := range []string{"postgres://shop:tiger-secret@127.0.0.1:1/shop", "shop:tiger-secret@tcp(127.0.0.1:1)/shop"} {
		err = run(ctx, []string{"-dsn", dsn}, getenv)
		if assert.Error(t, err, dsn) {
			assert.NotContains(t, err.Error(), "tiger-secret")
		}
	}
}
