// Package otelmidas reports the calls of a midas.Client, the fetches of a
// midas.StableTokenSource and the pushes of a push handler to
// OpenTelemetry: one span per call (its attempts as span events) and per
// push, and the metrics an operator is paged on. It lives in a module of its
// own so that the midas library keeps no dependency.
//
//	obs, err := otelmidas.New() // the global providers, or WithTracerProvider / WithMeterProvider
//	client, err := midas.NewClient(cfg, midas.WithObserver(obs))
//	tokens, err := midas.NewStableTokenSource(appID, secret, midas.WithObserver(obs))
//	h, err := push.NewHandler(pcfg, handlers, push.WithObserver(obs))
//
// The names of the spans, attributes and metrics are constants of this
// package and listed in the repository's docs/observability.md. No
// attribute ever holds a secret or a player's openid; the bill_no and
// out_trade_no, which support teams look orders up by, are span attributes
// and never metric labels.
package otelmidas

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/push"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the tracer and meter.
const ScopeName = "github.com/gomidas/midas/otelmidas"

// Attribute keys.
const (
	AttrAPI         = attribute.Key("midas.api")          // "pay", "present", "cancelpay", "getbalance", "queryorderinfo"
	AttrVersion     = attribute.Key("midas.version")      // "1.0" or "2.0"
	AttrEnv         = attribute.Key("midas.env")          // "production" or "sandbox"
	AttrSettle      = attribute.Key("midas.settle")       // a Settle helper's call
	AttrClass       = attribute.Key("midas.class")        // how the call ended: midas.CallClass
	AttrErrCode     = attribute.Key("midas.errcode")      // WeChat's errcode, when not 0
	AttrBillNo      = attribute.Key("midas.bill_no")      // spans only
	AttrAttempts    = attribute.Key("midas.attempts")     // spans only: attempts made
	AttrAttempt     = attribute.Key("midas.attempt")      // attempt events: the attempt's number
	AttrRetryReason = attribute.Key("midas.retry.reason") // why another attempt follows: midas.RetryReason
	AttrRetryWait   = attribute.Key("midas.retry.wait")   // attempt events: the backoff before the next, in seconds
	AttrNotSent     = attribute.Key("midas.not_sent")     // attempt events: provably never reached the server
	AttrHTTPStatus  = attribute.Key("http.response.status_code")
	AttrErrorType   = attribute.Key("error.type") // the class of a failed call or push

	AttrPushEvent      = attribute.Key("midas.push.event")        // a known Event, "other", or "" before the envelope was read
	AttrPushResult     = attribute.Key("midas.push.result")       // "accepted" or a push.Reject* word
	AttrPushDelivery   = attribute.Key("midas.push.delivery")     // a push.Delivery* word, "" when refused
	AttrPushOutTradeNo = attribute.Key("midas.push.out_trade_no") // spans only
	AttrPushRefundID   = attribute.Key("midas.push.refund_id")    // spans only

	AttrTokenForced = attribute.Key("midas.token.forced") // a force_refresh fetch
	AttrTokenResult = attribute.Key("midas.token.result") // "ok" or "error"
)

// Metric names. Durations are histograms in seconds.
const (
	MetricCalls           = "midas.client.calls"                      // counter {call}: api, version, env, settle, class, errcode (refused only)
	MetricCallDuration    = "midas.client.call.duration"              // histogram s: api, version, env, settle, class
	MetricAttempts        = "midas.client.attempts"                   // counter {attempt}: api, version, env, status, errcode, retry reason
	MetricUnknownOpened   = "midas.client.outcome_unknown.opened"     // counter {call}: api, version, env
	MetricUnknownSettled  = "midas.client.outcome_unknown.settled"    // counter {call}: api, version, env, class
	MetricUnknownPending  = "midas.client.outcome_unknown.pending"    // gauge {call}: opened here and not yet settled here
	MetricUnknownOldest   = "midas.client.outcome_unknown.oldest_age" // gauge s: age of the oldest of those, 0 when none
	MetricPushes          = "midas.push.requests"                     // counter {push}: event, result, delivery
	MetricPushDuration    = "midas.push.duration"                     // histogram s: event, result, delivery
	MetricHandlerDuration = "midas.push.handler.duration"             // histogram s: event, delivery
	MetricTokenRefreshes  = "midas.token.refreshes"                   // counter {refresh}: forced, result, errcode
)

// Span names: "midas " and the API ("midas pay"), "midas settle " and the
// API for a Settle helper, and SpanPush for a push.
const SpanPush = "midas push"

// EventAttempt is the span event of each attempt of a call.
const EventAttempt = "midas.attempt"

// maxPending bounds how many unknown outcomes the pending gauges track; past
// it new ones are counted opened but not tracked.
const maxPending = 100_000

// Option configures New.
type Option func(*config)

type config struct {
	tp  trace.TracerProvider
	mp  metric.MeterProvider
	now func() time.Time
}

// WithTracerProvider sets where spans go (default: otel.GetTracerProvider()).
func WithTracerProvider(tp trace.TracerProvider) Option { return func(c *config) { c.tp = tp } }

// WithMeterProvider sets where metrics go (default: otel.GetMeterProvider()).
func WithMeterProvider(mp metric.MeterProvider) Option { return func(c *config) { c.mp = mp } }

// Observer is a midas.Observer and a push.Observer reporting to
// OpenTelemetry. One can serve every client, token source and push handler
// of a process.
type Observer struct {
	tracer trace.Tracer
	now    func() time.Time

	calls, attempts, unknownOpened, unknownSettled, pushes, tokenRefreshes metric.Int64Counter
	callDuration, pushDuration, handlerDuration                            metric.Float64Histogram

	mu      sync.Mutex
	pending map[pendingKey]time.Time // unknown outcomes opened here, by call
}

type pendingKey struct {
	api, billNo string
	version     midas.Version
	env         midas.Env
}

var (
	_ midas.Observer = (*Observer)(nil)
	_ push.Observer  = (*Observer)(nil)
)

// New returns an Observer on the given (default: global) providers.
func New(opts ...Option) (*Observer, error) {
	c := config{now: time.Now}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.tp == nil {
		c.tp = otel.GetTracerProvider()
	}
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	m := c.mp.Meter(ScopeName, metric.WithInstrumentationVersion(midas.ModuleVersion))
	o := &Observer{tracer: c.tp.Tracer(ScopeName, trace.WithInstrumentationVersion(midas.ModuleVersion)), now: c.now,
		pending: map[pendingKey]time.Time{}}
	var err error
	counter := func(name, unit, desc string) metric.Int64Counter {
		var ctr metric.Int64Counter
		if err == nil {
			ctr, err = m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		}
		return ctr
	}
	histogram := func(name, desc string) metric.Float64Histogram {
		var h metric.Float64Histogram
		if err == nil {
			h, err = m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
				metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
		}
		return h
	}
	o.calls = counter(MetricCalls, "{call}", "Midas API calls, by how they ended")
	o.attempts = counter(MetricAttempts, "{attempt}", "HTTP exchanges of Midas API calls")
	o.unknownOpened = counter(MetricUnknownOpened, "{call}", "Calls that ended with their outcome unknown (to be settled)")
	o.unknownSettled = counter(MetricUnknownSettled, "{call}", "Settle calls that ended with a clear answer")
	o.pushes = counter(MetricPushes, "{push}", "POSTs to the push URL, by verification result and delivery")
	o.tokenRefreshes = counter(MetricTokenRefreshes, "{refresh}", "stable_token fetches")
	o.callDuration = histogram(MetricCallDuration, "Duration of Midas API calls, retries and waits included")
	o.pushDuration = histogram(MetricPushDuration, "Duration of push requests, from arrival to answer")
	o.handlerDuration = histogram(MetricHandlerDuration, "Duration of the push handlers")
	if err != nil {
		return nil, err
	}
	if _, err := m.Int64ObservableGauge(MetricUnknownPending, metric.WithUnit("{call}"),
		metric.WithDescription("Unknown outcomes opened by this process and not yet settled by it"),
		metric.WithInt64Callback(func(_ context.Context, ob metric.Int64Observer) error {
			n, _ := o.pendingStats()
			ob.Observe(int64(n))
			return nil
		})); err != nil {
		return nil, err
	}
	if _, err := m.Float64ObservableGauge(MetricUnknownOldest, metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest unknown outcome this process opened and has not settled; 0 when none"),
		metric.WithFloat64Callback(func(_ context.Context, ob metric.Float64Observer) error {
			_, age := o.pendingStats()
			ob.Observe(age.Seconds())
			return nil
		})); err != nil {
		return nil, err
	}
	return o, nil
}

// pendingStats is how many unknown outcomes are pending and the age of the
// oldest.
func (o *Observer) pendingStats() (int, time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var oldest time.Time
	for _, at := range o.pending {
		if oldest.IsZero() || at.Before(oldest) {
			oldest = at
		}
	}
	if oldest.IsZero() {
		return 0, 0
	}
	return len(o.pending), o.now().Sub(oldest)
}

// StartCall starts the call's span, a child of ctx's.
func (o *Observer) StartCall(ctx context.Context, info midas.CallInfo) (context.Context, midas.CallObserver) {
	name := "midas " + info.API
	if info.Settle {
		name = "midas settle " + info.API
	}
	base := attribute.NewSet(AttrAPI.String(info.API), AttrVersion.String(info.Version.String()), AttrEnv.String(info.Env.String()))
	attrs := append(base.ToSlice(), AttrSettle.Bool(info.Settle))
	if info.BillNo != "" {
		attrs = append(attrs, AttrBillNo.String(info.BillNo))
	}
	ctx, span := o.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	return ctx, &call{o: o, ctx: ctx, span: span, info: info, base: base}
}

// call is the CallObserver of one call.
type call struct {
	o    *Observer
	ctx  context.Context
	span trace.Span
	info midas.CallInfo
	base attribute.Set // api, version, env
}

func (c *call) Attempt(a midas.Attempt) {
	ev := []attribute.KeyValue{AttrAttempt.Int(a.Number), AttrHTTPStatus.Int(a.StatusCode)}
	metricAttrs := append(c.base.ToSlice(), AttrHTTPStatus.Int(a.StatusCode), AttrRetryReason.String(string(a.Retry)))
	if a.ErrCode != 0 {
		ev = append(ev, AttrErrCode.Int(a.ErrCode))
		metricAttrs = append(metricAttrs, AttrErrCode.Int(a.ErrCode))
	}
	if a.NotSent {
		ev = append(ev, AttrNotSent.Bool(true))
	}
	if a.Retry != "" {
		ev = append(ev, AttrRetryReason.String(string(a.Retry)), AttrRetryWait.Float64(a.Wait.Seconds()))
	}
	c.span.AddEvent(EventAttempt, trace.WithAttributes(ev...))
	c.o.attempts.Add(c.ctx, 1, metric.WithAttributes(metricAttrs...))
}

func (c *call) End(e midas.CallEnd) {
	o := c.o
	settle := AttrSettle.Bool(c.info.Settle)
	class := AttrClass.String(string(e.Class))
	counted := append(c.base.ToSlice(), settle, class)
	timed := counted
	if e.ErrCode != 0 {
		counted = append(counted[:len(counted):len(counted)], AttrErrCode.Int(e.ErrCode))
	}
	o.calls.Add(c.ctx, 1, metric.WithAttributes(counted...))
	o.callDuration.Record(c.ctx, e.Duration.Seconds(), metric.WithAttributes(timed...))

	key := pendingKey{api: c.info.API, billNo: c.info.BillNo, version: c.info.Version, env: c.info.Env}
	switch {
	case !c.info.Settle && e.Class == midas.ClassUnknown:
		o.unknownOpened.Add(c.ctx, 1, metric.WithAttributeSet(c.base))
		o.mu.Lock()
		if _, ok := o.pending[key]; !ok && len(o.pending) < maxPending {
			o.pending[key] = o.now()
		}
		o.mu.Unlock()
	case c.info.Settle && settles(e.Class):
		o.unknownSettled.Add(c.ctx, 1, metric.WithAttributes(append(c.base.ToSlice(), class)...))
		o.mu.Lock()
		delete(o.pending, key)
		o.mu.Unlock()
	}

	c.span.SetAttributes(class, AttrAttempts.Int(e.Attempts))
	if e.ErrCode != 0 {
		c.span.SetAttributes(AttrErrCode.Int(e.ErrCode))
	}
	if failed(e.Class) {
		desc := string(e.Class)
		if e.ErrCode != 0 {
			desc += " errcode " + strconv.Itoa(e.ErrCode)
		}
		c.span.SetAttributes(AttrErrorType.String(string(e.Class)))
		c.span.SetStatus(codes.Error, desc)
	}
	c.span.End()
}

// settles reports whether a settle that ended in class has settled the
// outcome: anything but unknown is a clear answer.
func settles(class midas.CallClass) bool {
	switch class {
	case midas.ClassSuccess, midas.ClassAlreadyApplied, midas.ClassRefused:
		return true
	}
	return false
}

func failed(class midas.CallClass) bool {
	return class != midas.ClassSuccess && class != midas.ClassAlreadyApplied
}

// TokenRefreshed counts a stable_token fetch.
func (o *Observer) TokenRefreshed(ctx context.Context, r midas.TokenRefresh) {
	result := "ok"
	if r.Err != nil {
		result = "error"
	}
	attrs := []attribute.KeyValue{AttrTokenForced.Bool(r.Forced), AttrTokenResult.String(result)}
	if r.ErrCode != 0 {
		attrs = append(attrs, AttrErrCode.Int(r.ErrCode))
	}
	o.tokenRefreshes.Add(ctx, 1, metric.WithAttributes(attrs...))
}

// ObservePush records a push's span and metrics. The span is a child of
// the request's (an otelhttp-wrapped handler's server span, say).
func (o *Observer) ObservePush(ctx context.Context, p push.Observation) {
	end := o.now()
	labels := []attribute.KeyValue{AttrPushEvent.String(p.Event), AttrPushResult.String(p.Result), AttrPushDelivery.String(p.Delivery)}
	o.pushes.Add(ctx, 1, metric.WithAttributes(labels...))
	o.pushDuration.Record(ctx, p.Duration.Seconds(), metric.WithAttributes(labels...))
	if p.HandlerDuration > 0 {
		o.handlerDuration.Record(ctx, p.HandlerDuration.Seconds(), metric.WithAttributes(labels[0], labels[2]))
	}
	attrs := append(labels, AttrHTTPStatus.Int(p.StatusCode))
	if p.Result == push.ResultAccepted {
		attrs = append(attrs, AttrEnv.String(p.Env.String()))
	}
	if p.OutTradeNo != "" {
		attrs = append(attrs, AttrPushOutTradeNo.String(p.OutTradeNo))
	}
	if p.RefundID != "" {
		attrs = append(attrs, AttrPushRefundID.String(p.RefundID))
	}
	_, span := o.tracer.Start(ctx, SpanPush, trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithTimestamp(end.Add(-p.Duration)), trace.WithAttributes(attrs...))
	switch {
	case p.Result != push.ResultAccepted:
		span.SetAttributes(AttrErrorType.String(p.Result))
		span.SetStatus(codes.Error, "refused: "+p.Result)
	case p.Delivery == push.DeliveryFailed || p.Delivery == push.DeliveryDedupFail:
		span.SetAttributes(AttrErrorType.String(p.Delivery))
		span.SetStatus(codes.Error, p.Delivery)
	}
	span.End(trace.WithTimestamp(end))
}
