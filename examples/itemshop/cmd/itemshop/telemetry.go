package main

import (
	"context"
	"errors"
	"net/http"
	"os"

	"github.com/gomidas/midas/otelmidas"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// telemetry is the shop's OpenTelemetry wiring, made from the environment:
//
//	ITEMSHOP_METRICS_ADDR   serve the metrics in Prometheus exposition at
//	                        http://ADDR/metrics (e.g. 127.0.0.1:9464)
//	ITEMSHOP_TRACES         "stdout": write each span to stderr as JSON
//
// With neither, obs is nil and the SDK reports nothing.
type telemetry struct {
	obs      *otelmidas.Observer
	metrics  http.Handler // the /metrics handler, nil without ITEMSHOP_METRICS_ADDR
	addr     string
	shutdown func(context.Context) error
}

func newTelemetry(getenv func(string) string) (*telemetry, error) {
	t := &telemetry{addr: getenv("ITEMSHOP_METRICS_ADDR"), shutdown: func(context.Context) error { return nil }}
	traces := getenv("ITEMSHOP_TRACES")
	if t.addr == "" && traces == "" {
		return t, nil
	}
	var opts []otelmidas.Option
	var shutdowns []func(context.Context) error
	if t.addr != "" {
		reg := prometheus.NewRegistry()
		exp, err := otelprom.New(otelprom.WithRegisterer(reg))
		if err != nil {
			return nil, err
		}
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
		shutdowns = append(shutdowns, mp.Shutdown)
		opts = append(opts, otelmidas.WithMeterProvider(mp))
		t.metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	}
	switch traces {
	case "":
	case "stdout":
		exp, err := stdouttrace.New(stdouttrace.WithWriter(os.Stderr))
		if err != nil {
			return nil, err
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp))
		shutdowns = append(shutdowns, tp.Shutdown)
		opts = append(opts, otelmidas.WithTracerProvider(tp))
	default:
		return nil, errors.New(`ITEMSHOP_TRACES must be "stdout" or empty`)
	}
	obs, err := otelmidas.New(opts...)
	if err != nil {
		return nil, err
	}
	t.obs = obs
	t.shutdown = func(ctx context.Context) error {
		var errs []error
		for _, s := range shutdowns {
			errs = append(errs, s(ctx))
		}
		return errors.Join(errs...)
	}
	return t, nil
}

// serveMetrics serves /metrics on t.addr until ctx ends; nothing without
// ITEMSHOP_METRICS_ADDR.
func (t *telemetry) serveMetrics(ctx context.Context) error {
	if t.metrics == nil {
		return nil
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", t.metrics)
	srv := newHTTPServer(t.addr, mux)
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
