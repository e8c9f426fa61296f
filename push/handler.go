package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gomidas/midas"
)

// Defaults of the options.
const (
	// DefaultMaxBodyBytes bounds the body read from a push. Real pushes are
	// about a kilobyte.
	DefaultMaxBodyBytes = 64 << 10
	// DefaultBodyTimeout bounds reading a push's body, counted from when the
	// handler is called: a sender slower than that is answered 408 and its
	// connection closed, whatever the http.Server's timeouts. A real push is
	// one small write, read at once.
	DefaultBodyTimeout = 2 * time.Second
	// DefaultHandlerTimeout is how long after a request arrived its
	// handler's context ends: under WeChat's 3-second limit, leaving time to
	// answer.
	DefaultHandlerTimeout = 2500 * time.Millisecond
	// markTimeout bounds a claim's Done and Release, which run on a context of
	// their own so that a handler that used up its time still gets its
	// delivery recorded. It is generous: a Done that fails leaves the key
	// claimed until its lease ends, and a repeat after that runs the handler
	// again, which is worse than answering late (WeChat then retries, and
	// the retry finds the key done).
	markTimeout = 5 * time.Second
)

// Handlers are the functions called with verified pushes. Each may be nil:
// its events are then answered with success and ignored. A function returns
// nil once the event is durably handled; an error (or a panic) is answered
// with a failure, and WeChat retries the push later. ctx ends before
// WeChat's 3-second limit (see [WithHandlerTimeout]).
//
// WeChat repeats a push until it is answered with success, and may repeat
// one that was. Without a Deduper a handler sees every repeat, concurrent
// ones included. With [WithDeduper] it runs at most once at a time per key
// and is not called again after it returned nil, except when: the process
// died between its return and Deduper.Done, Done failed, it ran longer than
// the Deduper's lease, or the repeat came after the done key expired (a
// TTL longer than WeChat's retry window). After an error or panic it is
// called again by the next repeat.
type Handlers struct {
	// ItemDelivered delivers a purchased item. Keyed on Env and OutTradeNo
	// ([ItemKey]). Without a Deduper it sees every repeat of an order and
	// must be idempotent on (Env, OutTradeNo) (see [ItemDelivery]); with
	// one, only the repeats listed above, so make it idempotent anyway
	// where a double grant costs money.
	ItemDelivered func(context.Context, *ItemDelivery) error
	// CoinsDelivered learns of a coin top-up. Keyed on Env and the top-up's
	// OutTradeNo ([CoinKey]); it sees repeats as ItemDelivered does.
	// Refreshing a balance is harmless to repeat; anything else must be
	// idempotent on (Env, OutTradeNo).
	CoinsDelivered func(context.Context, *CoinDelivery) error
	// Refunded learns of a completed refund. Keyed on Env and RefundId
	// ([RefundKey]); it sees repeats as ItemDelivered does, and every repeat
	// of a refund push that has no RefundId (those are not deduplicated).
	// Record refunds idempotently on (Env, RefundID), or on (Env,
	// OutTradeNo) when RefundID is empty.
	Refunded func(context.Context, *Refund) error
}

// Option configures NewHandler.
type Option func(*settings)

type settings struct {
	logger      *slog.Logger
	deduper     Deduper
	maxBody     int64
	timeout     time.Duration
	bodyTimeout time.Duration
	observer    Observer // nil: no telemetry (see observe.go)
	err         error
}

// WithLogger logs through l: rejections at Warn, handler failures at Error,
// ignored and mock pushes at Info or Debug. Nothing is logged without it. No
// log line holds the Token, a key or a decrypted body. A nil l is refused,
// as midas.WithLogger refuses it: leave the option out to log nothing.
func WithLogger(l *slog.Logger) Option {
	return func(s *settings) {
		if l == nil {
			s.err = errors.New("push: WithLogger needs a logger (leave the option out to log nothing)")
			return
		}
		s.logger = l
	}
}

// WithDeduper runs each handler at most once per key through d (see [Deduper]):
// item deliveries keyed on Env and OutTradeNo ([ItemKey]), coin top-ups on
// Env and their OutTradeNo ([CoinKey]), refunds on Env and RefundId
// ([RefundKey]; a refund push without a RefundId is not deduplicated). Use a
// shared store ([SQLDeduper]) when several instances receive pushes. When d
// is a [ClaimDeduper] the handler claims with BeginClaim and marks done or
// releases that claim, not the key. A nil d is refused.
func WithDeduper(d Deduper) Option {
	return func(s *settings) {
		if d == nil {
			s.err = errors.New("push: WithDeduper needs a Deduper")
			return
		}
		s.deduper = d
	}
}

// WithMaxBodyBytes sets the largest body read; a larger one is rejected with
// HTTP 413. n must be positive; the default is [DefaultMaxBodyBytes].
func WithMaxBodyBytes(n int64) Option {
	return func(s *settings) {
		if n <= 0 {
			s.err = errors.New("push: WithMaxBodyBytes needs a positive size")
			return
		}
		s.maxBody = n
	}
}

// WithBodyTimeout sets how long after the handler is called the body must
// have been read; a slower sender is answered 408 with Connection: close and
// cut off. d must be positive; the default is [DefaultBodyTimeout]. The
// bound is set with [http.ResponseController.SetReadDeadline]; a
// ResponseWriter that does not support it (a wrapper without Unwrap, a
// recorder) leaves the body read bounded only by the server's ReadTimeout.
func WithBodyTimeout(d time.Duration) Option {
	return func(s *settings) {
		if d <= 0 {
			s.err = errors.New("push: WithBodyTimeout needs a positive duration")
			return
		}
		s.bodyTimeout = d
	}
}

// WithHandlerTimeout sets how long after a request arrived the handler's
// context ends. d must be positive; the default is [DefaultHandlerTimeout].
// WeChat gives up after 3 s, so keep d well under that.
func WithHandlerTimeout(d time.Duration) Option {
	return func(s *settings) {
		if d <= 0 {
			s.err = errors.New("push: WithHandlerTimeout needs a positive duration")
			return
		}
		s.timeout = d
	}
}

// handler is the http.Handler of NewHandler.
type handler struct {
	cfg    Config
	aesKey []byte // nil in plain mode
	h      Handlers
	settings
}

// NewHandler returns the http.Handler of a push URL: mount it on the path
// configured in MP. It checks cfg (errors name the field at fault, never its
// value). The handler is safe for concurrent use.
func NewHandler(cfg Config, h Handlers, opts ...Option) (http.Handler, error) {
	key, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	s := settings{maxBody: DefaultMaxBodyBytes, timeout: DefaultHandlerTimeout, bodyTimeout: DefaultBodyTimeout}
	for _, o := range opts {
		if o != nil {
			o(&s)
		}
	}
	if s.err != nil {
		return nil, s.err
	}
	return &handler{cfg: cfg, aesKey: key, h: h, settings: s}, nil
}

// Format prints the handler without its secrets.
func (x *handler) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "push.Handler{AppID:%s SecureMode:%t}", x.cfg.AppID, x.aesKey != nil)
}

// LogValue logs the handler's Config without secrets.
func (x *handler) LogValue() slog.Value { return x.cfg.LogValue() }

// answer is the JSON reply WeChat reads.
type answer struct {
	status int
	code   int
	msg    string
	body   string // the JSON, made once
}

func newAnswer(status, code int, msg string) answer {
	body, _ := json.Marshal(struct {
		ErrCode int
		ErrMsg  string
	}{code, msg})
	return answer{status, code, msg, string(body)}
}

var (
	ansSuccess    = newAnswer(http.StatusOK, 0, "Success")
	ansBadRequest = newAnswer(http.StatusBadRequest, 40000, "bad request")
	ansForbidden  = newAnswer(http.StatusForbidden, 40300, "forbidden")
	ansMethod     = newAnswer(http.StatusMethodNotAllowed, 40500, "method not allowed")
	ansTooLarge   = newAnswer(http.StatusRequestEntityTooLarge, 41300, "request body too large")
	ansTimeout    = newAnswer(http.StatusRequestTimeout, 40800, "request timeout")
	ansInternal   = newAnswer(http.StatusInternalServerError, 99999, "internal error")
)

func (a answer) write(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	io.WriteString(w, a.body)
}

// rejection is a request refused before any handler ran: what to answer, and
// a reason to log that names no secret.
type rejection struct {
	ans    answer
	reason string
	err    error // optional detail; never holds a secret
	unread bool  // the body was not read to its end
}

func reject(a answer, reason string) *rejection { return &rejection{ans: a, reason: reason} }

// unread is a rejection that leaves (part of) the body unread.
func unread(a answer, reason string) *rejection {
	return &rejection{ans: a, reason: reason, unread: true}
}

func (x *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	switch r.Method {
	case http.MethodGet:
		x.serveCheck(w, r)
	case http.MethodPost:
		x.servePush(w, r, start)
	default:
		w.Header().Set("Allow", "GET, POST")
		rej := reject(ansMethod, "method not allowed")
		x.rejected(r, nil, rej)
		refuseBody(w, r)
		ansMethod.write(w)
		x.observe(r.Context(), start, nil, rej, ansMethod)
	}
}

// refuseBody makes sure a body the handler did not read is never read: the
// answer closes the connection, and a read deadline already passed stops
// net/http from draining up to 256 KiB of it after the handler returns (a
// sender trickling it would hold the connection open meanwhile).
func refuseBody(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength == 0 { // no body (or one already read to its end)
		return
	}
	if r.ProtoMajor == 1 { // HTTP/2 has no Connection header; the deadline ends the stream's read
		w.Header().Set("Connection", "close")
	}
	http.NewResponseController(w).SetReadDeadline(time.Now()) // unsupported: nothing more to do
}

// serveCheck answers the URL check of MP: echostr back when the signature
// matches.
func (x *handler) serveCheck(w http.ResponseWriter, r *http.Request) {
	refuseBody(w, r) // a URL check has no body to read
	q := r.URL.Query()
	if !x.urlSigOK(q.Get("signature"), q.Get("timestamp"), q.Get("nonce")) {
		x.rejected(r, nil, reject(ansForbidden, "URL check: bad signature"))
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, "forbidden")
		return
	}
	echo, ok := q["echostr"]
	if !ok {
		x.rejected(r, nil, reject(ansBadRequest, "URL check: no echostr"))
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, "bad request")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, echo[0])
}

func (x *handler) urlSigOK(sig, timestamp, nonce string) bool {
	return equalHex(URLSignature(x.cfg.Token, timestamp, nonce), sig)
}

// verified is a push whose signatures all checked out.
type verified struct {
	kind    eventKind
	event   string
	mock    bool
	item    *ItemDelivery
	coin    *CoinDelivery
	refund  *Refund
	ignored bool    // unknown event
	run     pushRun // what dispatching it came to, for the Observer
}

func (x *handler) servePush(w http.ResponseWriter, r *http.Request, start time.Time) {
	v, rej := x.verify(w, r, start)
	if rej != nil {
		x.rejected(r, v, rej)
		if rej.unread {
			refuseBody(w, r)
		}
		rej.ans.write(w)
		x.observe(r.Context(), start, v, rej, rej.ans)
		return
	}
	switch {
	case v.ignored:
		x.log(r.Context(), slog.LevelInfo, "push: ignored event", slog.String("event", v.event))
		ansSuccess.write(w)
		x.observe(r.Context(), start, v, nil, ansSuccess)
		return
	case v.mock:
		x.log(r.Context(), slog.LevelInfo, "push: mock push acknowledged", slog.String("event", v.event))
		ansSuccess.write(w)
		x.observe(r.Context(), start, v, nil, ansSuccess)
		return
	}
	ctx, cancel := context.WithDeadline(r.Context(), start.Add(x.timeout))
	defer cancel()
	ans := x.dispatch(ctx, v)
	ans.write(w)
	x.observe(r.Context(), start, v, nil, ans)
}

// readBody reads the body under its own deadline, start + the body timeout.
func (x *handler) readBody(w http.ResponseWriter, r *http.Request, start time.Time) ([]byte, *rejection) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, reject(ansBadRequest, "empty body")
	}
	rc := http.NewResponseController(w)
	bounded := rc.SetReadDeadline(start.Add(x.bodyTimeout)) == nil
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, x.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		var netErr net.Error
		switch {
		case errors.As(err, &tooBig):
			return nil, unread(ansTooLarge, "body over the size limit")
		case errors.As(err, &netErr) && netErr.Timeout():
			return nil, unread(ansTimeout, "body not received within the body timeout")
		}
		return nil, unread(ansBadRequest, "reading body failed")
	}
	if bounded {
		// Read in full: lift the deadline, or net/http's background read
		// of the idle connection would hit it and cancel the request's
		// context while the handler runs. The server sets its own
		// deadlines again for the next request.
		rc.SetReadDeadline(time.Time{})
	}
	return body, nil
}

// verify runs every check of a POST: URL signature, body size, secure mode,
// envelope, PayEventSig, strict payload. Only its result is trusted.
func (x *handler) verify(w http.ResponseWriter, r *http.Request, start time.Time) (*verified, *rejection) {
	q := r.URL.Query()
	timestamp, nonce := q.Get("timestamp"), q.Get("nonce")
	if !x.urlSigOK(q.Get("signature"), timestamp, nonce) {
		return nil, unread(ansForbidden, "bad URL signature")
	}
	if r.ContentLength > x.maxBody { // declared too large: no need to read it
		return nil, unread(ansTooLarge, "body over the size limit")
	}
	body, rej := x.readBody(w, r, start)
	if rej != nil {
		return nil, rej
	}
	msg, rej := x.open(q.Get("encrypt_type"), q.Get("msg_signature"), timestamp, nonce, body)
	if rej != nil {
		return nil, rej
	}
	return x.parse(msg, x.aesKey == nil)
}

// open returns the envelope JSON of a body: the body itself in plain mode
// (whose Encrypt, if any, parse finds in the envelope's decode), the
// decrypted message in secure mode.
func (x *handler) open(encryptType, msgSig, timestamp, nonce string, body []byte) ([]byte, *rejection) {
	if x.aesKey == nil {
		if encryptType != "" && encryptType != "raw" {
			return nil, reject(ansBadRequest, "secure-mode push, but no EncodingAESKey is configured")
		}
		return body, nil
	}
	if encryptType != "" && encryptType != "aes" {
		return nil, reject(ansBadRequest, "secure mode configured, but encrypt_type is not aes")
	}
	if msgSig == "" {
		return nil, reject(ansForbidden, "secure mode configured, but no msg_signature")
	}
	var outer secureBody
	if err := json.Unmarshal(body, &outer); err != nil {
		return nil, reject(ansBadRequest, "secure-mode body is not JSON")
	}
	if outer.Encrypt == "" {
		return nil, reject(ansBadRequest, "secure mode configured, but the body has no Encrypt")
	}
	if !equalHex(URLSignature(x.cfg.Token, timestamp, nonce, outer.Encrypt), msgSig) {
		return nil, reject(ansForbidden, "bad msg_signature")
	}
	msg, appID, err := decrypt(x.aesKey, outer.Encrypt)
	if err != nil {
		return nil, reject(ansBadRequest, "Encrypt does not decrypt")
	}
	if appID != x.cfg.AppID {
		return nil, reject(ansForbidden, "decrypted message is for another appid")
	}
	return msg, nil
}

// parse checks the envelope and its PayEventSig, then the payload. A plain
// body is first refused if it carries an Encrypt. Each document (the
// envelope, the payload) is decoded once.
func (x *handler) parse(msg []byte, plain bool) (*verified, *rejection) {
	env, rej := decodeEnvelope(msg, plain)
	if rej != nil {
		return nil, rej
	}
	if env.Event == "" {
		return nil, reject(ansBadRequest, "envelope has no Event")
	}
	v := &verified{kind: kindOf(env.Event), event: env.Event}
	if v.kind == kindUnknown {
		v.ignored = true
		return v, nil
	}
	mg := env.MiniGame
	if mg == nil || mg.Payload == "" {
		return v, reject(ansBadRequest, "envelope has no MiniGame.Payload")
	}
	if mg.PayEventSig == "" {
		return v, reject(ansForbidden, "envelope has no MiniGame.PayEventSig")
	}
	payload := []byte(mg.Payload)
	shape := newPayloadShape(v.kind)
	envNum, strictErr, err := decodePayload(payload, shape)
	if err != nil {
		return v, &rejection{ans: ansBadRequest, reason: "payload Env unreadable", err: err}
	}
	var appKey string
	switch envNum {
	case int64(midas.Production):
		appKey = x.cfg.AppKey
	case int64(midas.Sandbox):
		appKey = x.cfg.SandboxAppKey
	}
	if appKey == "" {
		return v, reject(ansForbidden, fmt.Sprintf("no AppKey configured for payload Env %d", envNum))
	}
	if !equalHex(midas.PaySig(env.Event, payload, appKey), mg.PayEventSig) {
		return v, reject(ansForbidden, "bad PayEventSig")
	}
	// Verified: from here the payload's fields are WeChat's.
	// A mock push (MP's format test) holds random values: only the JSON
	// types are checked, not that the fields needed to deliver are set.
	v.mock = mg.IsMock
	p := payloadMeta{event: env.Event, payload: mg.Payload, env: envNum, strictErr: strictErr,
		created: time.Unix(env.CreateTime, 0), typesOnly: mg.IsMock}
	switch s := shape.(type) {
	case *itemPayload:
		v.item, err = parseItem(p, s)
	case *coinPayload:
		v.coin, err = parseCoin(p, s)
	case *refundPayload:
		v.refund, err = parseRefund(p, s)
	}
	if err != nil {
		return v, &rejection{ans: ansBadRequest, reason: "malformed payload", err: err}
	}
	return v, nil
}

// dispatch calls the event's handler, through the Deduper if there is one,
// and returns the answer.
func (x *handler) dispatch(ctx context.Context, v *verified) answer {
	switch v.kind {
	case kindItem:
		if x.h.ItemDelivered == nil {
			return x.noHandler(ctx, v)
		}
		key := ""
		if x.deduper != nil { // the key is a string built per push: only for a Deduper
			key = ItemKey(v.item.Env, v.item.OutTradeNo)
		}
		return x.once(ctx, v, key, func() error { return call(ctx, x.h.ItemDelivered, v.item) })
	case kindCoin:
		if x.h.CoinsDelivered == nil {
			return x.noHandler(ctx, v)
		}
		key := ""
		if x.deduper != nil {
			key = CoinKey(v.coin.Env, v.coin.OutTradeNo)
		}
		return x.once(ctx, v, key, func() error { return call(ctx, x.h.CoinsDelivered, v.coin) })
	case kindRefund:
		if x.h.Refunded == nil {
			return x.noHandler(ctx, v)
		}
		key := ""
		if x.deduper != nil && v.refund.RefundID != "" { // without its id a refund cannot be told from another
			key = RefundKey(v.refund.Env, v.refund.RefundID)
		}
		return x.once(ctx, v, key, func() error { return call(ctx, x.h.Refunded, v.refund) })
	}
	return ansSuccess
}

func (x *handler) noHandler(ctx context.Context, v *verified) answer {
	x.log(ctx, slog.LevelDebug, "push: no handler for event, acknowledged", slog.String("event", v.event))
	return ansSuccess
}

// once runs a handler through the Deduper under key; without a Deduper or a
// key it just runs it.
func (x *handler) once(ctx context.Context, v *verified, key string, run func() error) answer {
	if x.deduper == nil || key == "" {
		return x.result(ctx, v, x.run(v, run))
	}
	claim, done, err := x.begin(ctx, key)
	if err != nil {
		v.run.dedupFailed = true
		x.log(ctx, slog.LevelError, "push: deduper Begin failed; WeChat will retry",
			slog.String("event", v.event), slog.String("dedup_key", key), slog.Any("error", err))
		return ansInternal
	}
	if done {
		v.run.duplicate = true
		x.log(ctx, slog.LevelInfo, "push: repeat of a handled push, acknowledged",
			slog.String("event", v.event), slog.String("dedup_key", key))
		return ansSuccess
	}
	herr := x.run(v, run)
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
	defer cancel()
	if herr != nil {
		if err := claim.Release(mctx); err != nil {
			x.log(ctx, slog.LevelError, "push: deduper Release failed",
				slog.String("dedup_key", key), slog.Any("error", err))
		}
		return x.result(ctx, v, herr)
	}
	if err := claim.Done(mctx); err != nil {
		x.log(ctx, slog.LevelError, "push: handled, but deduper Done failed; a repeat may run the handler again",
			slog.String("dedup_key", key), slog.Any("error", err))
	}
	return ansSuccess
}

// begin claims key through the Deduper: with BeginClaim when it is a
// [ClaimDeduper], so that a late Release drops this delivery's claim only,
// else with Begin, releasing and marking done by key.
func (x *handler) begin(ctx context.Context, key string) (Claim, bool, error) {
	cd, ok := x.deduper.(ClaimDeduper)
	if !ok {
		done, err := x.deduper.Begin(ctx, key)
		return keyClaim{x.deduper, key}, done, err
	}
	claim, done, err := cd.BeginClaim(ctx, key)
	if err == nil && !done && claim == nil {
		return nil, false, errors.New("push: ClaimDeduper.BeginClaim returned no claim")
	}
	return claim, done, err
}

// keyClaim is the claim on key of a Deduper that names claims by key only.
type keyClaim struct {
	d   Deduper
	key string
}

func (c keyClaim) Done(ctx context.Context) error    { return c.d.Done(ctx, c.key) }
func (c keyClaim) Release(ctx context.Context) error { return c.d.Release(ctx, c.key) }

// errPanic stands for a handler that panicked, with the stack where it did.
type errPanic struct {
	value any
	stack []byte
}

func (e errPanic) Error() string { return fmt.Sprintf("handler panicked: %v", e.value) }

// call runs fn, turning a panic into an error.
func call[T any](ctx context.Context, fn func(context.Context, *T) error, arg *T) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = errPanic{p, debug.Stack()} // still on the panicking stack
		}
	}()
	return fn(ctx, arg)
}

// result answers a handler's error: success for nil, a generic failure
// otherwise. The error text is logged, never answered.
func (x *handler) result(ctx context.Context, v *verified, err error) answer {
	if err == nil {
		return ansSuccess
	}
	attrs := []any{slog.String("event", v.event), slog.Any("error", err)}
	if key := v.outTradeNo(); key != "" {
		attrs = append(attrs, slog.String("out_trade_no", key))
	}
	if p, ok := err.(errPanic); ok {
		attrs = append(attrs, slog.String("stack", string(p.stack)))
	}
	x.log(ctx, slog.LevelError, "push: handler failed; WeChat will retry", attrs...)
	return ansInternal
}

func (v *verified) outTradeNo() string {
	switch {
	case v.item != nil:
		return v.item.OutTradeNo
	case v.coin != nil:
		return v.coin.OutTradeNo
	case v.refund != nil:
		return v.refund.OutTradeNo
	}
	return ""
}

// rejected logs a refused request at Warn. The reason names no secret; the
// event name, when known, is WeChat's (or the sender's) plain text.
func (x *handler) rejected(r *http.Request, v *verified, rej *rejection) {
	attrs := []any{slog.String("reason", rej.reason), slog.Int("status", rej.ans.status),
		slog.String("method", r.Method), slog.String("remote_addr", r.RemoteAddr)}
	if v != nil {
		attrs = append(attrs, slog.String("event", v.event))
	}
	if rej.err != nil {
		attrs = append(attrs, slog.String("detail", rej.err.Error()))
	}
	x.log(r.Context(), slog.LevelWarn, "push: rejected", attrs...)
}

func (x *handler) log(ctx context.Context, level slog.Level, msg string, attrs ...any) {
	if x.logger != nil {
		x.logger.Log(ctx, level, msg, attrs...)
	}
}
