package otelmidas_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/gomidas/midas/midastest"
	"github.com/gomidas/midas/otelmidas"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// Secrets of the tests, distinctive so that a substring search finds a leak.
const (
	appID     = "wx0telmidas77"
	offerID   = "1450077777"
	appKey    = "otelAPPKEYsecretZq81"
	sbKey     = "otelSANDBOXkeySecret5"
	secret    = "otelAPPSECRETx9w2"
	token     = "otelACCESSTOKENk3v"
	sessKey   = "c2Vzc2lvbktleU9UZUw0Mg=="
	pushToken = "otelPUSHtokenR4t"
	aesKey    = "abcdefghijklmnopqrstuvwxyz0123456789OTELQZA"
	openIDPfx = "oPLAYER"
)

// telemetry is an Observer on in-memory exporters.
type telemetry struct {
	obs    *otelmidas.Observer
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
}

func newTelemetry(t *testing.T) *telemetry {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { tp.Shutdown(context.Background()); mp.Shutdown(context.Background()) })
	obs, err := otelmidas.New(otelmidas.WithTracerProvider(tp), otelmidas.WithMeterProvider(mp))
	require.NoError(t, err)
	return &telemetry{obs: obs, spans: rec, reader: reader}
}

// metrics collects every metric now.
func (tm *telemetry) metrics(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, tm.reader.Collect(context.Background(), &rm))
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// sum adds the int64 sum points of metric name whose attributes hold every
// key=value of match ("midas.api=pay").
func sum(t *testing.T, ms map[string]metricdata.Metrics, name string, match ...string) int64 {
	t.Helper()
	m, ok := ms[name]
	if !ok {
		return 0
	}
	var n int64
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			if matches(p.Attributes, match) {
				n += p.Value
			}
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			if matches(p.Attributes, match) {
				n += p.Value
			}
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			if matches(p.Attributes, match) {
				n += int64(p.Count)
			}
		}
	default:
		t.Fatalf("%s: unexpected data %T", name, m.Data)
	}
	return n
}

func matches(set attribute.Set, match []string) bool {
	for _, kv := range match {
		k, want, _ := strings.Cut(kv, "=")
		v, ok := set.Value(attribute.Key(k))
		if !ok || v.Emit() != want {
			return false
		}
	}
	return true
}

// everyText is every string the exporters hold: span names, attributes,
// events and their attributes, status descriptions, and every metric's
// name and data point attributes.
func (tm *telemetry) everyText(t *testing.T) []string {
	t.Helper()
	var out []string
	kvs := func(where string, attrs []attribute.KeyValue) {
		for _, kv := range attrs {
			out = append(out, fmt.Sprintf("%s: %s=%s", where, kv.Key, kv.Value.Emit()))
		}
	}
	for _, s := range tm.spans.Ended() {
		out = append(out, "span "+s.Name(), "status "+s.Status().Description)
		kvs("span "+s.Name(), s.Attributes())
		for _, e := range s.Events() {
			out = append(out, "event "+e.Name)
			kvs("event "+e.Name, e.Attributes)
		}
	}
	for name, m := range tm.metrics(t) {
		out = append(out, "metric "+name)
		var sets []attribute.Set
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			for _, p := range d.DataPoints {
				sets = append(sets, p.Attributes)
			}
		case metricdata.Gauge[int64]:
			for _, p := range d.DataPoints {
				sets = append(sets, p.Attributes)
			}
		case metricdata.Gauge[float64]:
			for _, p := range d.DataPoints {
				sets = append(sets, p.Attributes)
			}
		case metricdata.Histogram[float64]:
			for _, p := range d.DataPoints {
				sets = append(sets, p.Attributes)
			}
		default:
			t.Fatalf("%s: unexpected data %T", name, m.Data)
		}
		for _, s := range sets {
			kvs("metric "+name, s.ToSlice())
		}
	}
	return out
}

// requireNoSecret fails when any text holds a secret or a player's openid.
func requireNoSecret(t *testing.T, texts []string, extra ...string) {
	t.Helper()
	require.NotEmpty(t, texts)
	for _, text := range texts {
		for _, s := range append([]string{appKey, sbKey, secret, token, sessKey, pushToken, aesKey, openIDPfx}, extra...) {
			require.NotContains(t, text, s)
		}
	}
}

var bg = context.Background()

func newFake(t *testing.T, players int) *midastest.Server {
	t.Helper()
	cfg := midastest.Config{AppID: appID, OfferID: offerID, AppKey: appKey, SandboxAppKey: sbKey, AppSecret: secret}
	for p := 0; p < players; p++ {
		cfg.Players = append(cfg.Players, midastest.Player{OpenID: fmt.Sprintf("%s%02d", openIDPfx, p), SessionKey: sessKey, Balance: 1_000})
	}
	fake := midastest.NewServer(cfg)
	t.Cleanup(fake.Close)
	return fake
}

func attrInt(s sdktrace.ReadOnlySpan, key string) int64 {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.AsInt64()
		}
	}
	return -1
}

func attrString(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}
