package push

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/gomidas/midas"
)

// Observer receives one Observation per POST to the push URL (set with
// WithObserver): what arrived, whether it verified and what became of it.
// Without one the handler reports nothing and pays nothing for it. It is
// called from the request's goroutine after the answer was written, so it
// must be safe for concurrent use and should return quickly.
//
// An Observation never holds the Token, EncodingAESKey, an AppKey, a
// signature or a decrypted body, nor the player's openid; the out_trade_no
// and refund id it carries are the identifiers a support team needs.
// github.com/gomidas/midas/otelmidas adapts it to OpenTelemetry.
type Observer interface {
	// ObservePush reports one POST; ctx is the request's.
	ObservePush(ctx context.Context, o Observation)
}

// WithObserver reports every POST to o (see [Observer]). A nil o is
// refused, as midas.WithObserver refuses it.
func WithObserver(o Observer) Option {
	return func(s *settings) {
		if o == nil {
			s.err = errors.New("push: WithObserver needs an Observer")
			return
		}
		s.observer = o
	}
}

// Observation is one push as the handler saw it.
type Observation struct {
	// Event is the push's Event: a known event's name, "" when the request
	// was refused before the envelope was read, and "other" for any other
	// value, so that a sender cannot make up new values.
	Event string
	// Result is "accepted" for a push that verified, else why it was
	// refused (one of the Reject* constants).
	Result string
	// Delivery is what became of an accepted push (one of the Delivery*
	// constants); "" for a refused one.
	Delivery string
	// Env is the payload's environment once verified.
	Env midas.Env
	// OutTradeNo is the order's out_trade_no and RefundID a refund's id,
	// once verified; "" otherwise.
	OutTradeNo, RefundID string
	// StatusCode is the HTTP status answered.
	StatusCode int
	// Duration is from the request's arrival to the answer written;
	// HandlerDuration the part of it spent in your handler (0 when none
	// ran).
	Duration, HandlerDuration time.Duration
	// HandlerErr is the error your handler returned (or its panic), nil
	// when it succeeded or did not run.
	HandlerErr error
}

// The values of Observation.Result other than ResultAccepted: why a POST
// was refused. Each is a fixed word, whatever the request held.
const (
	ResultAccepted         = "accepted"
	RejectMethod           = "method_not_allowed"
	RejectURLSignature     = "bad_signature"     // the URL signature (Token) did not match
	RejectMsgSignature     = "bad_msg_signature" // secure mode: msg_signature did not match
	RejectPayEventSig      = "bad_pay_event_sig" // PayEventSig (AppKey) missing or not matching
	RejectTooLarge         = "too_large"         // body over WithMaxBodyBytes
	RejectBodyTimeout      = "body_timeout"      // body not received within WithBodyTimeout
	RejectBodyUnreadable   = "body_unreadable"   // empty body, or reading it failed
	RejectMode             = "mode_mismatch"     // plain and secure mode mixed up
	RejectDecrypt          = "decrypt_failed"    // Encrypt did not decrypt
	RejectAppID            = "wrong_appid"       // decrypted for another appid
	RejectEnvelope         = "bad_envelope"      // the envelope was not understood
	RejectNoAppKey         = "no_app_key"        // no AppKey configured for the payload's Env
	RejectMalformedPayload = "malformed_payload" // verified, but the payload was not understood
	RejectOther            = "other"             // a refusal not listed above
)

// The values of Observation.Delivery.
const (
	DeliveryDelivered = "delivered"  // your handler ran and returned nil
	DeliveryDuplicate = "duplicate"  // the Deduper had it done: acknowledged, handler not run
	DeliveryMock      = "mock"       // MP's format test: acknowledged, handler not run
	DeliveryIgnored   = "ignored"    // an event this package does not handle, or no handler for it
	DeliveryFailed    = "failed"     // your handler returned an error or panicked: WeChat retries
	DeliveryDedupFail = "dedup_fail" // the Deduper failed before the handler ran: WeChat retries
)

// pushRun is what dispatching a verified push came to, for the Observer.
type pushRun struct {
	ran, duplicate, dedupFailed bool
	handlerDur                  time.Duration
	handlerErr                  error
}

// run runs a handler, timing it when there is an Observer.
func (x *handler) run(v *verified, fn func() error) error {
	if x.observer == nil {
		return fn()
	}
	start := time.Now()
	err := fn()
	v.run.ran, v.run.handlerDur, v.run.handlerErr = true, time.Since(start), err
	return err
}

// observe reports one POST to the Observer, if there is one.
func (x *handler) observe(ctx context.Context, start time.Time, v *verified, rej *rejection, ans answer) {
	if x.observer == nil {
		return
	}
	o := Observation{StatusCode: ans.status, Duration: time.Since(start)}
	if v != nil {
		o.Event = observedEvent(v)
	}
	if rej != nil {
		o.Result = rejectReason(rej)
		x.observer.ObservePush(ctx, o)
		return
	}
	o.Result = ResultAccepted
	switch {
	case v.item != nil:
		o.Env, o.OutTradeNo = v.item.Env, v.item.OutTradeNo
	case v.coin != nil:
		o.Env, o.OutTradeNo = v.coin.Env, v.coin.OutTradeNo
	case v.refund != nil:
		o.Env, o.OutTradeNo, o.RefundID = v.refund.Env, v.refund.OutTradeNo, v.refund.RefundID
	}
	o.HandlerDuration, o.HandlerErr = v.run.handlerDur, v.run.handlerErr
	switch {
	case v.mock:
		o.Delivery = DeliveryMock
	case v.run.duplicate:
		o.Delivery = DeliveryDuplicate
	case v.run.dedupFailed:
		o.Delivery = DeliveryDedupFail
	case !v.run.ran:
		o.Delivery = DeliveryIgnored
	case v.run.handlerErr != nil:
		o.Delivery = DeliveryFailed
	default:
		o.Delivery = DeliveryDelivered
	}
	x.observer.ObservePush(ctx, o)
}

// observedEvent is v's event when this package knows it, else "other": an
// unverified envelope's Event is whatever the sender wrote.
func observedEvent(v *verified) string {
	if v.kind == kindUnknown {
		return "other"
	}
	return v.event
}

// rejectReason maps a rejection to its Reject* word.
func rejectReason(rej *rejection) string {
	r := rej.reason
	switch {
	case r == "method not allowed":
		return RejectMethod
	case r == "bad URL signature" || r == "URL check: bad signature":
		return RejectURLSignature
	case r == "bad msg_signature":
		return RejectMsgSignature
	case r == "bad PayEventSig" || r == "envelope has no MiniGame.PayEventSig":
		return RejectPayEventSig
	case r == "body over the size limit":
		return RejectTooLarge
	case r == "body not received within the body timeout":
		return RejectBodyTimeout
	case r == "empty body" || r == "reading body failed":
		return RejectBodyUnreadable
	case strings.HasPrefix(r, "secure mode") || strings.HasPrefix(r, "secure-mode") || strings.HasPrefix(r, "encrypted body"):
		return RejectMode
	case r == "Encrypt does not decrypt":
		return RejectDecrypt
	case r == "decrypted message is for another appid":
		return RejectAppID
	case strings.HasPrefix(r, "envelope"):
		return RejectEnvelope
	case strings.HasPrefix(r, "no AppKey configured"):
		return RejectNoAppKey
	case r == "malformed payload" || r == "payload Env unreadable":
		return RejectMalformedPayload
	}
	return RejectOther
}
