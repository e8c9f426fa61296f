// Package midas calls the WeChat Mini Game virtual-payment (Midas, 米大师)
// server APIs, in production and in the sandbox, in both generations: 1.0
// (/cgi-bin/midas: getbalance, pay, cancelpay, present) and 2.0 (/wxa/game:
// the same four and queryorderinfo), chosen by Config.Version. It also signs
// 2.0 item orders (SignGameItem); package push receives their delivery pushes.
//
// A Client holds the appid, offer_id, Midas AppKey, environment and version.
// Each call checks its input, stamps ts, signs (1.0: sig with the AppKey and,
// with a session_key, mp_sig, in the body; 2.0: pay_sig with the AppKey and
// signature with the session_key, over the exact body bytes, in the query),
// sends it, and turns every errcode into an error that works with errors.Is
// and errors.As, by its meaning in the version that answered. A 2.0 client
// (a game that opened virtual payment on or after 2022-11-05; older games
// are on 1.0, the zero Version):
//
//	c, err := midas.NewClient(midas.Config{
//		AppID:       "wx1234567",
//		OfferID:     "1450000001",                       // the 2.0 OfferId (支付应用ID)
//		AppKey:      "zNLgAGgqsEWJOg1nFVaO5r7fAlIQxr1u", // the 2.0 AppKey of Env: each Env has its own
//		Env:         midas.Sandbox,
//		Version:     midas.V2, // a game that opened payment on or after 2022-11-05
//		AccessToken: midas.StaticToken("ACCESSTOKEN"),
//	})
//
// A coin spend, with the unknown outcome handled first and every other
// class of error after it (this is the package's Example_v2, run as a test):
//
//	func spend(ctx context.Context, c *midas.Client, openID, sessionKey, billNo string, amount int64) string {
//		req := midas.PayRequest{OpenID: openID, SessionKey: sessionKey, BillNo: billNo, Amount: amount}
//		resp, err := c.Pay(ctx, req)
//		if errors.Is(err, midas.ErrOutcomeUnknown) {
//			// First: the coins may have moved, and this error matches no other
//			// sentinel. Settle with the same request (it never charges twice);
//			// never refund it.
//			resp, err = c.SettlePay(ctx, req)
//			if err != nil {
//				// Still unknown, or refused: a refusal is final only from a
//				// settle begun midas.LateLandingWindow after this one.
//				return fmt.Sprintf("keep %s open; settle again in %v", billNo, midas.LateLandingWindow)
//			}
//		}
//		var apiErr *midas.APIError
//		switch {
//		case err == nil && resp.AlreadyProcessed:
//			return "deliver: a lost attempt was the one applied"
//		case err == nil:
//			return fmt.Sprintf("deliver: paid %d, balance %d", amount, resp.Balance)
//		case errors.Is(err, midas.ErrInvalidRequest):
//			return "fix the request, nothing was sent: " + err.Error()
//		case errors.Is(err, midas.ErrInsufficientBalance):
//			return "not enough coins: offer a top-up"
//		case errors.Is(err, midas.ErrSessionExpired), errors.Is(err, midas.ErrMpSigInvalid):
//			return "stale session_key: ask the player to log in again"
//		case errors.Is(err, midas.ErrOrderExists):
//			return "paid earlier under this bill_no: deliver that order, never charge again"
//		case errors.As(err, &apiErr):
//			return fmt.Sprintf("refused, errcode %d (%s): the coins did not move", apiErr.Code, apiErr.Meaning())
//		default:
//			return "failed, the coins did not move (network, HTTP status): " + err.Error()
//		}
//	}
//
// The module's version is [ModuleVersion]; CHANGELOG.md lists each
// release's changes and says what a v0 release may change.
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
// answer or after WithSettleMaxAttempts; never resolve it by refunding, since
// an attempt held inside WeChat can land after the refund found nothing. For
// the same reason a settle's refusal (90013) is final only from a settle
// begun LateLandingWindow after the unknown call; a success is final at
// once. errcode 90012 on a first attempt (ErrOrderExists) means the bill_no
// was applied before: the coins moved then. An attempt that never reached
// the server (ErrNotSent) is not unclear. Redirects are never followed.
//
// An answer that lacks a field its response promises (a balance, pay_state)
// is ErrMalformedResponse, never a zero. A balance the answer did not carry
// (after AlreadyProcessed; 1.0 cancelpay) has BalanceKnown false.
//
// On errcode 40001, 40014 or 42001 a TokenSource that is a TokenInvalidator,
// such as NewStableTokenSource, is told, and the call is signed again with a
// new token and retried once.
//
// # Signatures
//
// Sig and MpSig (1.0), PaySig and SessionSig (2.0) are the bare signers, for
// checking a signature by hand. The Client signs the exact body it sends:
// empty optional fields are neither sent nor signed, integers are JSON
// numbers, a 1.0 sandbox call signs the sandbox path, and a 2.0 body is built
// once and sent as signed.
//
// # Secrets
//
// The AppKey, AppSecret, session keys and access tokens never appear in an
// error or in WithLogger's lines. Config, Client, the request types and the
// token sources mask them through their own Format, LogValue and MarshalJSON
// methods, so fmt (every verb), log/slog and encoding/json never show them
// for the value itself or a pointer to it, alone or inside an exported field,
// slice, map or interface. Not guaranteed: an unexported field of your own
// struct holding one. fmt prints such a field by reflection without calling
// its methods, so %v of it shows the secrets; give that struct its own
// String or Format, or log its parts.
//
// # Testing
//
// A Client made without WithHTTPClient pools its own connections until
// http.DefaultTransport is replaced, and then uses the replacement, so
// httpmock.Activate intercepts it; one made with WithHTTPClient(hc) is
// intercepted by httpmock.ActivateNonDefault(hc). WithBaseURL points a Client
// at a fake server on loopback, such as package midastest's.
package midas
