// Package midas calls the WeChat Mini Game virtual-payment (Midas, 米大师)
// server APIs: getbalance, pay, cancelpay and present, in production and in
// the sandbox.
//
// A Client holds the appid, offer_id, Midas AppKey and environment. Each call
// checks its input, stamps ts, signs the body with sig (keyed with the AppKey)
// and, when the request carries the player's session_key, with mp_sig, sends
// it, and turns every errcode into an error that works with errors.Is and
// errors.As:
//
//	c, err := midas.NewClient(midas.Config{
//		AppID:       "wx1234567",
//		OfferID:     "12345678",
//		AppKey:      appKey, // the sandbox and production keys differ
//		Env:         midas.Sandbox,
//		AccessToken: midas.StaticToken(token),
//	})
//	...
//	resp, err := c.Pay(ctx, midas.PayRequest{OpenID: openID, BillNo: orderID, Amount: 60})
//	switch {
//	case errors.Is(err, midas.ErrOutcomeUnknown):
//		// First: the coins may have moved. Settle with c.SettlePay.
//	case errors.Is(err, midas.ErrInsufficientBalance):
//		// ask the player to top up
//	case err != nil:
//		// see "Money and failures" below
//	}
//
// # Money and failures
//
// A bill_no is the idempotency key of pay, present and cancelpay: the server
// never deducts, gifts or refunds the same bill_no twice. Choose it before the
// first call, store it with the purchase, and reuse it to follow up.
//
// The client retries transport errors, unreadable answers, HTTP 5xx and
// errcode -1 (WithMaxRetries, WithRetryBackoff, WithAttemptTimeout), every
// attempt with the same bill_no, a fresh ts and fresh signatures. A retry
// answered 90012 (1.0 cancelpay: 90015) after an unclear attempt means that
// attempt was applied: the call succeeds with AlreadyProcessed set. When the
// outcome stays unclear, the error is an *OutcomeUnknownError: it matches
// ErrOutcomeUnknown and no other sentinel, so check it first. Settle it with
// SettlePay (SettlePresent, SettleCancelPay), which end on the first clear
// answer, or refund it. errcode 90012 on a first attempt (ErrOrderExists)
// means the bill_no was used before. An attempt that never reached the server
// (ErrNotSent) is not unclear. Redirects are never followed.
//
// On errcode 40001, 40014 or 42001 a TokenSource that is a TokenInvalidator,
// such as NewStableTokenSource, is told, and the call is signed again with a
// new token and retried once.
//
// # Signatures
//
// Sig and MpSig are the bare signer, for checking a signature by hand. The
// Client signs the exact body it sends: empty optional fields are neither sent
// nor signed, integers are JSON numbers signed in decimal, and a sandbox call
// signs the sandbox path.
//
// # Secrets
//
// The AppKey, AppSecret, session keys and access tokens never appear in an
// error, and Config, Client, the request types and the token sources mask them
// when printed with fmt or logged with log/slog (WithLogger logs attempts).
//
// # Testing
//
// A Client made without WithHTTPClient uses http.DefaultTransport, so
// httpmock.Activate intercepts it; one made with WithHTTPClient(hc) is
// intercepted by httpmock.ActivateNonDefault(hc). WithBaseURL points a Client
// at a fake server on loopback.
package midas
