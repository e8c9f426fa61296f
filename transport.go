package midas

import (
	"net/http"
	"sync"
)

// DefaultMaxIdleConnsPerHost is how many idle connections to WeChat the
// default client keeps: enough for 256 concurrent callers to reuse theirs.
// http.Transport's default of 2 makes each further concurrent call pay a TLS
// handshake.
const DefaultMaxIdleConnsPerHost = 256

// stockTransport is http.DefaultTransport as net/http made it, read once so
// that a replacement (httpmock.Activate, a tracing wrapper) can be told
// apart from it. It is never written.
var stockTransport = http.DefaultTransport

// defaultTransport is the default client's RoundTripper. While
// http.DefaultTransport is the stock one, it sends through its own clone of
// it with a pool sized for concurrent backends. Once a program or a test has
// replaced http.DefaultTransport (httpmock.Activate does), it sends through
// the replacement, looked up on every request, so mocks intercept it.
type defaultTransport struct {
	once   sync.Once
	pooled http.RoundTripper
}

func newDefaultTransport() *defaultTransport { return &defaultTransport{} }

// RoundTrip sends req through the pooled clone or the replaced
// http.DefaultTransport.
func (t *defaultTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	current := http.DefaultTransport
	if current != stockTransport {
		return current.RoundTrip(req)
	}
	t.once.Do(t.init)
	return t.pooled.RoundTrip(req)
}

func (t *defaultTransport) init() {
	st, ok := stockTransport.(*http.Transport)
	if !ok {
		t.pooled = stockTransport
		return
	}
	p := st.Clone()
	p.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	if p.MaxIdleConns < DefaultMaxIdleConnsPerHost {
		p.MaxIdleConns = DefaultMaxIdleConnsPerHost
	}
	t.pooled = p
}

// CloseIdleConnections closes the pooled clone's idle connections, so that
// http.Client.CloseIdleConnections reaches them.
func (t *defaultTransport) CloseIdleConnections() {
	type closer interface{ CloseIdleConnections() }
	t.once.Do(t.init)
	if c, ok := t.pooled.(closer); ok {
		c.CloseIdleConnections()
	}
}

// liveTransport sends through whatever transport hc has at the time.
type liveTransport struct{ hc *http.Client }

func (t liveTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if rt := t.hc.Transport; rt != nil {
		return rt.RoundTrip(req)
	}
	return http.DefaultTransport.RoundTrip(req)
}

// CloseIdleConnections reaches hc's transport.
func (t liveTransport) CloseIdleConnections() { t.hc.CloseIdleConnections() }

// noRedirects makes a 3xx the answer: a redirected POST would be re-sent as
// a GET, and whatever answered it would be read as Midas's answer.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
