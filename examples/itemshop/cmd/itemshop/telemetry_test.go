package main

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/midastest"
	"github.com/gomidas/midas/push"
	"github.com/stretchr/testify/require"
)

// With ITEMSHOP_METRICS_ADDR set the shop's observer exports Prometheus
// exposition under the names docs/observability.md lists.
func TestMetricsExposition(t *testing.T) {
	env := map[string]string{"ITEMSHOP_METRICS_ADDR": "127.0.0.1:0"}
	tel, err := newTelemetry(func(k string) string { return env[k] })
	require.NoError(t, err)
	require.NotNil(t, tel.obs)
	defer tel.shutdown(context.Background())

	tel.obs.ObservePush(context.Background(), push.Observation{Event: push.EventGamePayGoodsDeliver, Result: push.ResultAccepted,
		Delivery: push.DeliveryDelivered, StatusCode: 200, Duration: time.Millisecond, HandlerDuration: time.Millisecond})
	tel.obs.ObservePush(context.Background(), push.Observation{Result: push.RejectURLSignature, StatusCode: 403, Duration: time.Millisecond})

	fake := midastest.NewServer(midastest.Config{OfferID: "12345678", AppKey: "zNLgAGgqsEWJOg1nFVaO5r7fAlIQxr1u", AccessTokens: []string{"ACCESSTOKEN"},
		Players: []midastest.Player{{OpenID: "o_player", SessionKey: "V7Q38/i2KXaqrQyl2Yx9Hg==", Balance: 10}}})
	defer fake.Close()
	client, err := midas.NewClient(midas.Config{AppID: "wx1234567", OfferID: "12345678", AppKey: "zNLgAGgqsEWJOg1nFVaO5r7fAlIQxr1u",
		AccessToken: midas.StaticToken("ACCESSTOKEN"), Version: midas.V2}, append(fake.ClientOptions(), midas.WithObserver(tel.obs))...)
	require.NoError(t, err)
	_, err = client.GetBalance(context.Background(), midas.BalanceRequest{OpenID: "o_player", SessionKey: "V7Q38/i2KXaqrQyl2Yx9Hg=="})
	require.NoError(t, err)

	rec := httptest.NewRecorder()
	tel.metrics.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`midas_client_calls_total{midas_api="getbalance",midas_class="success",midas_env="production",midas_settle="false",midas_version="2.0"`,
		`midas_client_attempts_total{http_response_status_code="200",midas_api="getbalance",midas_env="production",midas_retry_reason="",midas_version="2.0"`,
		`midas_client_call_duration_seconds_bucket{`,
		`midas_push_requests_total{midas_push_delivery="delivered",midas_push_event="minigame_game_pay_goods_deliver_notify",midas_push_result="accepted"`,
		`midas_push_requests_total{midas_push_delivery="",midas_push_event="",midas_push_result="bad_signature"`,
		`midas_push_duration_seconds_bucket{`,
		`midas_push_handler_duration_seconds_count{`,
		`midas_client_outcome_unknown_oldest_age_seconds{`,
		`midas_client_outcome_unknown_pending{`,
	} {
		require.Contains(t, body, want)
	}
	for _, secret := range []string{"zNLgAGgqsEWJOg1nFVaO5r7fAlIQxr1u", "ACCESSTOKEN", "V7Q38/i2KXaqrQyl2Yx9Hg==", "o_player"} {
		require.False(t, strings.Contains(body, secret))
	}
}

// Without the variables there is no observer; a bad ITEMSHOP_TRACES is
// refused.
func TestTelemetryOff(t *testing.T) {
	tel, err := newTelemetry(func(string) string { return "" })
	require.NoError(t, err)
	require.Nil(t, tel.obs)
	require.Nil(t, tel.metrics)
	_, err = newTelemetry(func(k string) string { return map[string]string{"ITEMSHOP_TRACES": "jaeger"}[k] })
	require.ErrorContains(t, err, "ITEMSHOP_TRACES")
}
