package push_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/push"
	"github.com/stretchr/testify/require"
)

// observations records what a handler reported.
type observations struct {
	mu  sync.Mutex
	got []push.Observation
}

func (o *observations) ObservePush(_ context.Context, ob push.Observation) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, ob)
}

func (o *observations) last(t *testing.T) push.Observation {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	require.NotEmpty(t, o.got)
	return o.got[len(o.got)-1]
}

// Each POST is reported once, with its event, its verification result,
// what became of it and the status answered; nothing it carries is a
// secret or the player's openid.
func TestObserverReportsEachPush(t *testing.T) {
	var obs observations
	fail := true
	ev := push.EventGamePayGoodsDeliver
	s := newSender(t, true, push.Handlers{ItemDelivered: func(_ context.Context, d *push.ItemDelivery) error {
		if d.OutTradeNo == "FAIL-1" && fail {
			fail = false
			return errors.New("store down")
		}
		return nil
	}}, push.WithObserver(&obs), push.WithDeduper(push.NewMemoryDeduper()))

	cases := []struct {
		name    string
		send    func() int
		want    push.Observation
		handler bool // the handler ran
	}{
		{"genuine", func() int { return s.post(signed(ev, itemPayload("OBS-1", midas.Production), testAppKey)).Code },
			push.Observation{Event: ev, Result: push.ResultAccepted, Delivery: push.DeliveryDelivered, OutTradeNo: "OBS-1", StatusCode: http.StatusOK}, true},
		{"duplicate", func() int { return s.post(signed(ev, itemPayload("OBS-1", midas.Production), testAppKey)).Code },
			push.Observation{Event: ev, Result: push.ResultAccepted, Delivery: push.DeliveryDuplicate, OutTradeNo: "OBS-1", StatusCode: http.StatusOK}, false},
		{"sandbox", func() int { return s.post(signed(ev, itemPayload("OBS-2", midas.Sandbox), testSandboxKey)).Code },
			push.Observation{Event: ev, Result: push.ResultAccepted, Delivery: push.DeliveryDelivered, Env: midas.Sandbox, OutTradeNo: "OBS-2", StatusCode: http.StatusOK}, true},
		{"forged PayEventSig", func() int {
			p := itemPayload("OBS-3", midas.Production)
			return s.post(envelope(ev, p, midas.PaySig(ev, []byte(p), "guessed"), false)).Code
		}, push.Observation{Event: ev, Result: push.RejectPayEventSig, StatusCode: http.StatusForbidden}, false},
		{"forged URL signature", func() int {
			f := s
			f.token = "guessed"
			return f.post(signed(ev, itemPayload("OBS-4", midas.Production), testAppKey)).Code
		}, push.Observation{Result: push.RejectURLSignature, StatusCode: http.StatusForbidden}, false},
		{"mock", func() int {
			p := itemPayload("OBS-5", midas.Production)
			return s.post(envelope(ev, p, midas.PaySig(ev, []byte(p), testAppKey), true)).Code
		}, push.Observation{Event: ev, Result: push.ResultAccepted, Delivery: push.DeliveryMock, OutTradeNo: "OBS-5", StatusCode: http.StatusOK}, false},
		{"unknown event", func() int { return s.post(envelope("made_up_event", "{}", "", false)).Code },
			push.Observation{Event: "other", Result: push.ResultAccepted, Delivery: push.DeliveryIgnored, StatusCode: http.StatusOK}, false},
		{"handler fails", func() int { return s.post(signed(ev, itemPayload("FAIL-1", midas.Production), testAppKey)).Code },
			push.Observation{Event: ev, Result: push.ResultAccepted, Delivery: push.DeliveryFailed, OutTradeNo: "FAIL-1", StatusCode: http.StatusInternalServerError}, true},
		{"retried after the failure", func() int { return s.post(signed(ev, itemPayload("FAIL-1", midas.Production), testAppKey)).Code },
			push.Observation{Event: ev, Result: push.ResultAccepted, Delivery: push.DeliveryDelivered, OutTradeNo: "FAIL-1", StatusCode: http.StatusOK}, true},
		{"wrong method", func() int { return s.do(http.MethodPut, nil, nil).Code },
			push.Observation{Result: push.RejectMethod, StatusCode: http.StatusMethodNotAllowed}, false},
	}
	for i, c := range cases {
		code := c.send()
		got := obs.last(t)
		require.Len(t, obs.got, i+1, c.name)
		require.Equal(t, c.want.StatusCode, code, c.name)
		require.Positive(t, got.Duration, c.name)
		require.Equal(t, c.handler, got.HandlerDuration > 0, c.name)
		require.Equal(t, c.want.Delivery == push.DeliveryFailed, got.HandlerErr != nil, c.name)
		got.Duration, got.HandlerDuration, got.HandlerErr = 0, 0, nil
		require.Equal(t, c.want, got, c.name)
		requireNoSecret(t, fmt.Sprintf("%+v", got), "o_buyer")
	}
}

// A handler without an Observer reports nothing and still answers.
func TestNoObserverIsSilent(t *testing.T) {
	s := newSender(t, false, push.Handlers{})
	requireSuccess(t, s.post(signed(push.EventGamePayGoodsDeliver, itemPayload("N-1", midas.Production), testAppKey)))
}
