package midas

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http/httptrace"
	"strings"
	"sync"
	"time"
)

// TokenInvalidator is implemented by a TokenSource that can drop a token
// WeChat rejected (errcode 40001, 40014 or 42001). The Client then asks for a
// new token, signs again (mp_sig covers the token) and retries once.
type TokenInvalidator interface {
	// InvalidateToken drops token, which WeChat rejected, if it is still
	// the one given out.
	InvalidateToken(token string)
}

// do sends cl, retrying what is safe to retry, and decodes the answer into
// out. See the package doc and README "Retries and failures" for the
// contract; in short:
//   - an attempt that provably never reached the server is not ambiguous;
//   - an attempt that may have been applied makes the call unclear, and an
//     unclear pay, present or cancelpay ends as an *OutcomeUnknownError unless
//     a retry is answered with the done code (the earlier attempt's success);
//   - a settling call (the Settle helpers) repeats until the answer is clear,
//     ctx ends or WithSettleMaxAttempts is reached, and stops at once on an
//     answer given before the bill_no was looked up.
func (c *Client) do(ctx context.Context, cl *call, out *apiResponse) error {
	tok, err := c.token(ctx, cl)
	if err != nil {
		return c.end(cl, 0, cl.settling, err)
	}
	// unclear: an attempt so far may have been applied without our knowing.
	unclear := cl.settling
	refreshed := false
	retries := 0
	for attempt := 1; ; attempt++ {
		res := c.attempt(ctx, cl, tok, out, attempt)
		if res.err == nil {
			return nil
		}
		unclear = unclear || (res.ambiguous && cl.mutates())

		var apiErr *APIError
		isAPI := errors.As(res.err, &apiErr)
		if unclear && isAPI && apiErr.Code == cl.doneCode {
			// The bill_no was already processed: by the unclear attempt.
			out.alreadyProcessed = true
			return nil
		}
		if isAPI && apiErr.Is(ErrAccessTokenInvalid) && !refreshed {
			if inv, ok := c.tokens.(TokenInvalidator); ok {
				refreshed = true
				inv.InvalidateToken(tok)
				if tok, err = c.token(ctx, cl); err != nil {
					return c.end(cl, attempt, unclear, err)
				}
				continue
			}
		}
		retry := res.retryable
		if cl.settling {
			// Settling repeats until the answer is clear: "being processed"
			// and an unreadable answer are not. Its own bound ends it when
			// the caller's context never does.
			retry = retry || res.ambiguous || (isAPI && apiErr.Is(ErrOrderProcessing))
			if retry && attempt >= c.settleAttempts {
				return c.end(cl, attempt, unclear, fmt.Errorf("%w (settle stopped: WithSettleMaxAttempts(%d) reached)", res.err, c.settleAttempts))
			}
		} else if retries >= c.maxRetries {
			retry = false
		}
		if !retry {
			return c.end(cl, attempt, unclear, res.err)
		}
		if cerr := ctx.Err(); cerr != nil {
			return c.end(cl, attempt, unclear, fmt.Errorf("%w (retry stopped: %w)", res.err, cerr))
		}
		retries++
		if werr := sleep(ctx, c.backoff(retries)); werr != nil {
			return c.end(cl, attempt, unclear, fmt.Errorf("%w (retry stopped: %w)", res.err, werr))
		}
	}
}

// token asks the TokenSource for the access_token of a call. A failure
// matches ErrNotSent.
func (c *Client) token(ctx context.Context, cl *call) (string, error) {
	tok, err := c.tokens.Token(ctx)
	if err != nil {
		// Nothing was sent without a token.
		return "", fmt.Errorf("midas: %s%s: get access_token: %w", cl.api, billSuffix(cl.billNo), &notSentError{err})
	}
	if tok == "" {
		return "", fmt.Errorf("midas: %s%s: %w", cl.api, billSuffix(cl.billNo), &notSentError{errors.New("token source gave an empty access_token")})
	}
	return tok, nil
}

// end is the error a call ends with: err itself, or an *OutcomeUnknownError
// around it when a pay, present or cancelpay may have been applied. A
// settling call returns a definite *APIError only for an answer given after
// the server looked the bill_no up (90013, 90000, 90014, ...); anything else
// leaves its outcome unknown.
func (c *Client) end(cl *call, attempts int, unclear bool, err error) error {
	if !unclear || !cl.mutates() {
		return err
	}
	if cl.settling {
		var apiErr *APIError
		if errors.As(err, &apiErr) && afterLookup(apiErr) {
			return err
		}
	}
	return &OutcomeUnknownError{API: cl.api, BillNo: cl.billNo, Attempts: attempts, Err: err}
}

// afterLookup reports whether an errcode is a definite answer about the
// bill_no, given after the server looked it up: not enough coins (pay), no
// such order and already confirmed (cancelpay). Every other code, -1, "being
// processed", a rejection of the request itself (token, signatures, session,
// permission, parameters, IP whitelist, quota) or a code not documented for
// these APIs, says nothing of the earlier attempt. The sentinels carry each
// version's meaning, so this holds for both.
func afterLookup(e *APIError) bool {
	return e.Is(ErrInsufficientBalance) || e.Is(ErrOrderNotFound) || e.Is(ErrOrderConfirmed)
}

// result is what one attempt came to. retryable says whether sending again
// may help; ambiguous whether the server may have applied the call though
// the answer says nothing of it.
type result struct {
	err                  error
	retryable, ambiguous bool
}

// attempt sends cl once, with a fresh ts and fresh signatures.
func (c *Client) attempt(ctx context.Context, cl *call, tok string, out *apiResponse, n int) (res result) {
	actx := ctx
	if c.attemptTimeout > 0 {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeout(ctx, c.attemptTimeout)
		defer cancel()
	}
	if c.logger != nil {
		start := time.Now()
		defer func() { c.logAttempt(cl, n, res.err, time.Since(start)) }()
	}

	if err := actx.Err(); err != nil {
		// Never sent: nothing can have been applied.
		return result{err: fmt.Errorf("midas: %s%s: %w", cl.api, billSuffix(cl.billNo), &notSentError{err})}
	}
	var conn connTrace
	req, err := c.newRequest(httptrace.WithClientTrace(actx, conn.trace()), cl, tok)
	if err != nil {
		return result{err: err}
	}
	// Whether to retry after an error also depends on the caller's context,
	// which do checks.
	resp, err := c.httpClient.Do(req)
	if err != nil {
		err = redact(err, tok, c.appKey, cl.sessionKey)
		if conn.neverConnected(err) {
			return result{err: fmt.Errorf("midas: %s%s: %w", cl.api, billSuffix(cl.billNo), &notSentError{err}), retryable: true}
		}
		// Sent or not, we cannot tell: a timeout may come after the server
		// applied the call.
		return result{err: fmt.Errorf("midas: %s%s: %w", cl.api, billSuffix(cl.billNo), err), retryable: true, ambiguous: true}
	}
	*out = apiResponse{}
	err = checkResponse(resp, cl.api, cl.billNo, c.d.version(), out)
	var apiErr *APIError
	var httpErr *HTTPError
	var readErr *bodyReadError
	switch {
	case err == nil:
		c.d.normalize(out)
		if missing := out.missing(cl.api, c.d.version()); len(missing) > 0 {
			// Another shape than the documented one: not understood, like
			// any malformed 2xx (the call may well have been applied).
			return result{err: fmt.Errorf("%w: %s%s: HTTP %d: the answer has no %s", ErrMalformedResponse, cl.api, billSuffix(cl.billNo),
				resp.StatusCode, strings.Join(missing, ", ")), ambiguous: true}
		}
		return result{}
	case errors.As(err, &apiErr):
		busy := apiErr.Code == CodeSystemBusy
		return result{err: err, retryable: busy, ambiguous: busy}
	case errors.As(err, &httpErr):
		server := httpErr.StatusCode >= 500
		return result{err: err, retryable: server, ambiguous: server}
	case errors.As(err, &readErr):
		return result{err: err, retryable: true, ambiguous: true}
	}
	// A 2xx we could not understand: the server may well have applied the
	// call. Not retried by a plain call; a Settle helper repeats it.
	return result{err: err, ambiguous: true}
}

// connTrace records whether an attempt ever had a connection: an error
// before that point proves the request was never sent.
type connTrace struct {
	mu        sync.Mutex
	gotConn   bool
	dialOrTLS bool // a dial or TLS handshake failed
}

func (t *connTrace) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { t.mu.Lock(); t.gotConn = true; t.mu.Unlock() },
		ConnectDone: func(_, _ string, err error) {
			if err != nil {
				t.mu.Lock()
				t.dialOrTLS = true
				t.mu.Unlock()
			}
		},
		TLSHandshakeDone: func(_ tls.ConnectionState, err error) {
			if err != nil {
				t.mu.Lock()
				t.dialOrTLS = true
				t.mu.Unlock()
			}
		},
	}
}

// neverConnected reports whether err proves that no byte of the request
// reached the server: no connection was had, and the error is a dial, DNS or
// TLS handshake failure. Anything else (a mocked transport's error, a
// timeout after connecting) stays ambiguous.
func (t *connTrace) neverConnected(err error) bool {
	t.mu.Lock()
	got, failed := t.gotConn, t.dialOrTLS
	t.mu.Unlock()
	if got {
		return false
	}
	if failed {
		return true
	}
	var opErr *net.OpError
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var recErr tls.RecordHeaderError
	var alert tls.AlertError
	return (errors.As(err, &opErr) && opErr.Op == "dial") || errors.As(err, &dnsErr) ||
		errors.As(err, &certErr) || errors.As(err, &recErr) || errors.As(err, &alert)
}

// backoff is the wait before retry n (from 1): full jitter up to
// backoffMin*2^(n-1), capped at backoffMax.
func (c *Client) backoff(n int) time.Duration {
	ceil := c.backoffMax
	if n < 32 {
		if d := c.backoffMin << (n - 1); d > 0 && d < ceil {
			ceil = d
		}
	}
	return time.Duration(rand.Int64N(int64(ceil)) + 1)
}

// sleep waits d, or less if ctx ends first, in which case it returns ctx's
// error.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) logAttempt(cl *call, n int, err error, d time.Duration) {
	if c.logger == nil {
		return
	}
	attrs := []slog.Attr{slog.String("api", cl.api), slog.Int("attempt", n), slog.Duration("duration", d)}
	if cl.billNo != "" {
		attrs = append(attrs, slog.String("bill_no", cl.billNo))
	}
	level := slog.LevelInfo
	if err != nil {
		level = slog.LevelWarn
		var apiErr *APIError
		if errors.As(err, &apiErr) {
			attrs = append(attrs, slog.Int("errcode", apiErr.Code))
		}
		// Error texts are redacted where they are made.
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	c.logger.LogAttrs(context.Background(), level, "midas attempt", attrs...)
}
