package midas

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// TokenInvalidator is implemented by a TokenSource that can drop a token
// WeChat rejected (errcode 40001, 40014 or 42001). The Client then asks for a
// new token, signs again (mp_sig covers the token) and retries once.
type TokenInvalidator interface {
	InvalidateToken(token string)
}

// do sends cl, retrying what is safe to retry, and decodes the answer into
// out. See the package doc for which failures are retried and when the
// outcome is reported unknown.
func (c *Client) do(ctx context.Context, cl *call, out *apiResponse) error {
	tok, err := c.token(ctx, cl)
	if err != nil {
		return c.settle(cl, 0, cl.settling, err)
	}
	// unclear: an attempt so far may have been applied without our knowing.
	unclear := cl.settling
	refreshed := false
	retries := 0
	for attempt := 1; ; attempt++ {
		retryable, ambiguous, err := c.attempt(ctx, cl, tok, out, attempt)
		if err == nil {
			return nil
		}
		unclear = unclear || (ambiguous && cl.mutates())

		var apiErr *APIError
		isAPI := errors.As(err, &apiErr)
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
					return c.settle(cl, attempt, unclear, err)
				}
				continue
			}
		}
		if !retryable || retries >= c.maxRetries {
			return c.settle(cl, attempt, unclear, err)
		}
		retries++
		if werr := sleep(ctx, c.backoff(retries)); werr != nil {
			return c.settle(cl, attempt, unclear, fmt.Errorf("%w (retry stopped: %w)", err, werr))
		}
	}
}

// token asks the TokenSource for the access_token of a call.
func (c *Client) token(ctx context.Context, cl *call) (string, error) {
	tok, err := c.tokens.Token(ctx)
	if err != nil {
		return "", fmt.Errorf("midas: %s%s: get access_token: %w", cl.api, billSuffix(cl.billNo), err)
	}
	if tok == "" {
		return "", fmt.Errorf("midas: %s%s: token source gave an empty access_token", cl.api, billSuffix(cl.billNo))
	}
	return tok, nil
}

// settle is the error a call ends with: err itself, or, when a pay, present
// or cancelpay may have been applied, an *OutcomeUnknownError around it.
func (c *Client) settle(cl *call, attempts int, unclear bool, err error) error {
	if unclear && cl.mutates() {
		return &OutcomeUnknownError{API: cl.api, BillNo: cl.billNo, Attempts: attempts, Err: err}
	}
	return err
}

// attempt sends cl once, with a fresh ts and fresh signatures. retryable
// says whether sending again may help; ambiguous whether the server may
// have applied the call though the answer says nothing of it.
func (c *Client) attempt(ctx context.Context, cl *call, tok string, out *apiResponse, n int) (retryable, ambiguous bool, err error) {
	actx := ctx
	if c.attemptTimeout > 0 {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeout(ctx, c.attemptTimeout)
		defer cancel()
	}
	if c.logger != nil {
		start := time.Now()
		defer func() { c.logAttempt(cl, n, err, time.Since(start)) }()
	}

	req, err := c.newRequest(actx, cl, tok)
	if err != nil {
		return false, false, err
	}
	resp, err := c.httpClient.Do(req)
	if err != nil {
		// Sent or not, we cannot tell: a timeout may come after the server
		// applied the call. Retrying helps unless the caller gave up.
		err = fmt.Errorf("midas: %s%s: %w", cl.api, billSuffix(cl.billNo), redact(err, tok, c.appKey, cl.sessionKey))
		return ctx.Err() == nil, true, err
	}
	*out = apiResponse{}
	err = checkResponse(resp, cl.api, cl.billNo, out)
	var apiErr *APIError
	var httpErr *HTTPError
	switch {
	case err == nil:
		return false, false, nil
	case errors.As(err, &apiErr):
		busy := apiErr.Code == CodeSystemBusy
		return busy, busy, err
	case errors.As(err, &httpErr):
		server := httpErr.StatusCode >= 500
		return server, server, err
	}
	// A 2xx we could not read: the server may well have applied the call.
	return false, true, err
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
