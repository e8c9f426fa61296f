package midas

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Without a cookie jar the client calls the transport itself instead of
// http.Client.Do; with one it goes through Do. Both must end alike for
// whatever a transport does.
func TestSendEndsAsHTTPClientDoWould(t *testing.T) {
	transports := map[string]roundTripFunc{
		"nil response, nil error": func(*http.Request) (*http.Response, error) { return nil, nil },
		"nil body, no length": func(*http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 200, Header: http.Header{}}, nil
		},
		"nil body, a length": func(*http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 200, Header: http.Header{}, ContentLength: 12}, nil
		},
		"an error": func(*http.Request) (*http.Response, error) { return nil, errLost },
		"a response and an error": func(*http.Request) (*http.Response, error) {
			return answerOf(`{"errcode":0,"balance":1,"used_gen_amt":0}`), errLost
		},
		"a redirect": func(r *http.Request) (*http.Response, error) {
			resp := answerOf(`moved`)
			resp.StatusCode = http.StatusFound
			resp.Header.Set("Location", "/elsewhere")
			return resp, nil
		},
		"a redirect to a Location that does not parse": func(r *http.Request) (*http.Response, error) {
			resp := answerOf(`moved`)
			resp.StatusCode = http.StatusFound
			resp.Header.Set("Location", ":no-scheme")
			return resp, nil
		},
		"a redirect without a Location": func(r *http.Request) (*http.Response, error) {
			resp := answerOf(`moved`)
			resp.StatusCode = http.StatusTemporaryRedirect
			return resp, nil
		},
		"an answer": func(*http.Request) (*http.Response, error) {
			return answerOf(`{"errcode":0,"balance":1,"used_gen_amt":0}`), nil
		},
	}
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	for name, rt := range transports {
		t.Run(name, func(t *testing.T) {
			pay := func(hc *http.Client) error {
				c, err := NewClient(testConfig(Production), WithHTTPClient(hc), WithMaxRetries(0))
				require.NoError(t, err)
				_, err = c.Pay(context.Background(), payReq)
				return err
			}
			direct := pay(&http.Client{Transport: rt})
			viaDo := pay(&http.Client{Transport: rt, Jar: jar})
			if viaDo == nil {
				assert.NoError(t, direct)
				return
			}
			require.Error(t, direct)
			assert.Equal(t, viaDo.Error(), direct.Error())
			for _, target := range []error{ErrOutcomeUnknown, ErrNotSent, ErrMalformedResponse, errLost} {
				assert.Equal(t, errors.Is(viaDo, target), errors.Is(direct, target), "errors.Is(err, %v)", target)
			}
			var du, vu *url.Error
			assert.Equal(t, errors.As(viaDo, &vu), errors.As(direct, &du), "a *url.Error on both paths or neither")
			var dh, vh *HTTPError
			if assert.Equal(t, errors.As(viaDo, &vh), errors.As(direct, &dh)) && vh != nil {
				assert.Equal(t, vh.StatusCode, dh.StatusCode)
			}
		})
	}
}

// A caller's cookie jar still sees the requests (WithHTTPClient keeps it).
func TestHTTPClientJarIsUsed(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("lb")
		if err == nil {
			got <- c.Value
		} else {
			got <- ""
		}
		io.WriteString(w, `{"errcode":0,"balance":1,"used_gen_amt":0}`)
	}))
	defer srv.Close()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	jar.SetCookies(u, []*http.Cookie{{Name: "lb", Value: "node-7"}})
	c, err := NewClient(testConfig(Production), WithBaseURL(srv.URL), WithHTTPClient(&http.Client{Jar: jar}))
	require.NoError(t, err)
	_, err = c.Pay(context.Background(), payReq)
	require.NoError(t, err)
	assert.Equal(t, "node-7", <-got)
}

// A proxy that cannot be reached: net/http wraps the failed dial in an
// error of its own ("proxyconnect"); nothing was sent.
func TestUnreachableProxyIsNotSent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	proxy := &url.URL{Scheme: "http", Host: ln.Addr().String()}
	ln.Close()
	hc := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}}
	c, err := NewClient(testConfig(Production), WithBaseURL("http://midas.example"), WithHTTPClient(hc),
		WithMaxRetries(1), WithRetryBackoff(time.Microsecond, time.Microsecond))
	require.NoError(t, err)
	_, err = c.Pay(context.Background(), payReq)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "proxyconnect")
	assert.ErrorIs(t, err, ErrNotSent)
	assert.NotErrorIs(t, err, ErrOutcomeUnknown)
}

// An https base URL served in plain HTTP: the TLS handshake fails before
// any byte of the request is sent, and the error says why as Do's does.
func TestSchemeMismatchIsNotSent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the request reached the server")
	}))
	defer srv.Close()
	c, err := NewClient(testConfig(Production), WithBaseURL(strings.Replace(srv.URL, "http://", "https://", 1)),
		WithMaxRetries(0))
	require.NoError(t, err)
	_, err = c.Pay(context.Background(), payReq)
	require.Error(t, err)
	assert.ErrorIs(t, err, http.ErrSchemeMismatch)
	assert.ErrorIs(t, err, ErrNotSent)
	assert.NotErrorIs(t, err, ErrOutcomeUnknown)
}

// A base URL with user info (a proxy behind basic auth) goes through Do,
// which sends the credentials; its errors name the URL as Do's do, the
// password masked.
func TestBaseURLUserInfoIsSentAsBasicAuth(t *testing.T) {
	got := make(chan string, 3)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("Authorization")
		io.WriteString(w, `{"errcode":0,"balance":1,"used_gen_amt":0}`)
	}))
	defer srv.Close()
	base := strings.Replace(srv.URL, "http://", "http://user:pass@", 1)
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	for name, opts := range map[string][]Option{
		"default client":              nil,
		"WithHTTPClient":              {WithHTTPClient(&http.Client{})},
		"WithHTTPClient with its jar": {WithHTTPClient(&http.Client{Jar: jar})},
	} {
		c, err := NewClient(testConfig(Production), append([]Option{WithBaseURL(base), WithMaxRetries(0)}, opts...)...)
		require.NoError(t, err)
		_, err = c.Pay(context.Background(), payReq)
		require.NoError(t, err, name)
		assert.Equal(t, "Basic dXNlcjpwYXNz", <-got, name)
	}

	lost := roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, errLost })
	c, err := NewClient(testConfig(Production), WithBaseURL("http://user:pass@midas.example"), WithHTTPClient(&http.Client{Transport: lost}), WithMaxRetries(0))
	require.NoError(t, err)
	_, err = c.Pay(context.Background(), payReq)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "pass@")
	assert.Contains(t, err.Error(), "user:")
}
