package midas

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Retry defaults.
const (
	DefaultMaxRetries = 2
	DefaultBackoffMin = 100 * time.Millisecond
	DefaultBackoffMax = 2 * time.Second
	// DefaultSettleMaxAttempts bounds a Settle helper's attempts: with the
	// default backoff (waits capped at 2 s) and DefaultTimeout (10 s per
	// attempt) a settle ends within about four minutes even when its context
	// has no deadline and every answer is -1.
	DefaultSettleMaxAttempts = 20
)

// Option configures a Client.
type Option func(*settings) error

type settings struct {
	httpClient *http.Client
	// timeout bounds each HTTP exchange: DefaultTimeout, or the Timeout of
	// the client given to WithHTTPClient. It is applied as a context
	// deadline (exchangeContext), never as http.Client.Timeout: over a
	// transport net/http does not know (ours wrap one), that costs a
	// goroutine, a timer and channels per request.
	timeout        time.Duration
	baseURL        string
	base           *url.URL // baseURL, parsed once
	now            func() time.Time
	maxRetries     int
	settleAttempts int
	attemptTimeout time.Duration
	backoffMin     time.Duration
	backoffMax     time.Duration
	logger         *slog.Logger
	observer       Observer // telemetry; nil reports nothing (observe.go)
	// given names the options given, so that a constructor can refuse
	// those it would ignore.
	given []string
}

func newSettings(opts []Option) (settings, error) {
	s := settings{
		httpClient:     &http.Client{Transport: newDefaultTransport(), CheckRedirect: noRedirects},
		timeout:        DefaultTimeout,
		baseURL:        DefaultBaseURL,
		now:            time.Now,
		maxRetries:     DefaultMaxRetries,
		settleAttempts: DefaultSettleMaxAttempts,
		backoffMin:     DefaultBackoffMin,
		backoffMax:     DefaultBackoffMax,
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&s); err != nil {
			return settings{}, err
		}
	}
	base, err := url.Parse(s.baseURL)
	if err != nil {
		return settings{}, invalid("WithBaseURL", "%v", err)
	}
	s.base = base
	return s, nil
}

// WithHTTPClient sends requests through hc instead of the default client.
// hc itself is not changed: the client uses one of its own with hc's Jar,
// sending through hc's Transport (looked up on every request), whose
// CheckRedirect refuses redirects, since following one would turn a POST
// into a GET. Without a Jar, API calls go to the Transport directly, ending
// as http.Client.Do would (a 3xx is the answer, failures are *url.Error).
// hc's Timeout bounds each HTTP exchange as a context deadline:
// an exchange that outlives it fails with an error matching
// context.DeadlineExceeded.
//
// Give hc a Timeout, and a Transport whose MaxIdleConnsPerHost is at least
// the number of concurrent calls: http.Transport's default of 2 makes every
// further concurrent call open, and close, a new TLS connection to WeChat.
func WithHTTPClient(hc *http.Client) Option {
	return func(s *settings) error {
		s.given = append(s.given, "WithHTTPClient")
		if hc == nil {
			return invalid("WithHTTPClient", "nil *http.Client")
		}
		// Not a plain copy: hc's Transport is looked up on every request,
		// so httpmock.ActivateNonDefault(hc) intercepts even after NewClient.
		s.httpClient = &http.Client{Transport: liveTransport{hc}, CheckRedirect: noRedirects, Jar: hc.Jar}
		s.timeout = hc.Timeout
		return nil
	}
}

// WithBaseURL sends requests to u (scheme and host, optionally a path
// prefix) instead of DefaultBaseURL: a fake server in tests, or a proxy.
func WithBaseURL(u string) Option {
	return func(s *settings) error {
		s.given = append(s.given, "WithBaseURL")
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.RawQuery != "" || p.Fragment != "" {
			return invalid("WithBaseURL", "want an absolute http(s) URL with no query, got %q", u)
		}
		s.baseURL = strings.TrimRight(u, "/")
		s.base = nil
		return nil
	}
}

// WithClock sets where ts comes from (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(s *settings) error {
		s.given = append(s.given, "WithClock")
		if now == nil {
			return invalid("WithClock", "nil clock")
		}
		s.now = now
		return nil
	}
}

// WithMaxRetries sets how many times a call is retried after a transport
// error, an HTTP 5xx or errcode -1 (default 2; 0 turns retries off). pay,
// present and cancelpay keep their bill_no on every attempt, so a retry never
// moves coins twice.
func WithMaxRetries(n int) Option {
	return func(s *settings) error {
		s.given = append(s.given, "WithMaxRetries")
		if n < 0 || n > 20 {
			return invalid("WithMaxRetries", "want 0 to 20, got %d", n)
		}
		s.maxRetries = n
		return nil
	}
}

// WithSettleMaxAttempts bounds the attempts of one SettlePay, SettlePresent
// or SettleCancelPay call (default DefaultSettleMaxAttempts, 1 to 1000). A
// settle repeats -1, "being processed", 5xx and lost answers on its own,
// not counted by WithMaxRetries; this bound, or the context's end, whichever
// comes first, stops it with an *OutcomeUnknownError naming the attempts
// made. A -1 that never clears is a misconfiguration (offer_id, zone or env
// that do not belong together), which no number of attempts cures.
func WithSettleMaxAttempts(n int) Option {
	return func(s *settings) error {
		s.given = append(s.given, "WithSettleMaxAttempts")
		if n < 1 || n > 1000 {
			return invalid("WithSettleMaxAttempts", "want 1 to 1000, got %d", n)
		}
		s.settleAttempts = n
		return nil
	}
}

// WithAttemptTimeout bounds each attempt on its own, inside the caller's
// context, so one hung attempt leaves time for a retry. 0 means no bound
// other than the context and the HTTP client's timeout (DefaultTimeout, or
// that of WithHTTPClient's client); the shorter of the two applies. An
// attempt cut off fails with an error matching context.DeadlineExceeded.
func WithAttemptTimeout(d time.Duration) Option {
	return func(s *settings) error {
		s.given = append(s.given, "WithAttemptTimeout")
		if d < 0 {
			return invalid("WithAttemptTimeout", "negative duration %v", d)
		}
		s.attemptTimeout = d
		return nil
	}
}

// WithRetryBackoff sets the wait before retry n: a random duration (full
// jitter) up to min*2^(n-1), capped at max. Waits end when the context does.
func WithRetryBackoff(min, max time.Duration) Option {
	return func(s *settings) error {
		s.given = append(s.given, "WithRetryBackoff")
		if min <= 0 || max < min {
			return invalid("WithRetryBackoff", "want 0 < min <= max, got %v and %v", min, max)
		}
		s.backoffMin, s.backoffMax = min, max
		return nil
	}
}

// WithLogger logs each attempt (API, bill_no, attempt, errcode or error,
// duration) to l, secrets redacted. The default is silent.
func WithLogger(l *slog.Logger) Option {
	return func(s *settings) error {
		s.given = append(s.given, "WithLogger")
		if l == nil {
			return invalid("WithLogger", "nil logger")
		}
		s.logger = l
		return nil
	}
}
