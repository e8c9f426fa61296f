package push_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/push"
)

// A handler that delivers each order once, keyed on OutTradeNo: WeChat's
// retry of a push it already delivered is answered with success and grants
// nothing. The map stands for your database; there, record OutTradeNo under a
// unique key in the transaction that grants the items.
func ExampleNewHandler() {
	var (
		mu        sync.Mutex
		delivered = map[string]bool{}  // OutTradeNo -> delivered
		gems      = map[string]int64{} // OpenID -> gems
	)
	deliver := func(_ context.Context, d *push.ItemDelivery) error {
		if d.Env != midas.Sandbox { // this demo server only takes sandbox orders
			return fmt.Errorf("unexpected env %v", d.Env)
		}
		mu.Lock()
		defer mu.Unlock()
		if delivered[d.OutTradeNo] {
			return nil // a repeat: answer success again, grant nothing
		}
		gems[d.OpenID] += d.Quantity
		delivered[d.OutTradeNo] = true
		return nil
	}
	cfg := push.Config{Token: "my-push-token", AppID: "wx1234567890abcdef", SandboxAppKey: "12345"}
	h, err := push.NewHandler(cfg, push.Handlers{ItemDelivered: deliver})
	if err != nil {
		fmt.Println(err)
		return
	}
	// In production: http.Handle("/wechat/push", h)

	// What WeChat sends, twice (a retry is a replay of the same push).
	event := push.EventGamePayGoodsDeliver
	payload := `{"OpenId":"o_player","OutTradeNo":"GO20240101000001","Env":1,` +
		`"GoodsInfo":{"ProductId":"gem_pack_60","Quantity":60,"ZoneId":"1","OrigPrice":600,"ActualPrice":600,"OrderSource":1}}`
	body, _ := json.Marshal(map[string]any{
		"ToUserName": "gh_0123456789ab", "FromUserName": "o_wechat", "CreateTime": 1714037059,
		"MsgType": "event", "Event": event,
		"MiniGame": map[string]any{"Payload": payload, "PayEventSig": midas.PaySig(event, []byte(payload), "12345")},
	})
	q := url.Values{"timestamp": {"1714037059"}, "nonce": {"486452656"}}
	q.Set("signature", push.URLSignature(cfg.Token, q.Get("timestamp"), q.Get("nonce")))
	for i := 0; i < 2; i++ {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/wechat/push?"+q.Encode(), bytes.NewReader(body)))
		fmt.Println(rec.Code, rec.Body.String())
	}
	fmt.Println("gems:", gems["o_player"])
	// Output:
	// 200 {"ErrCode":0,"ErrMsg":"Success"}
	// 200 {"ErrCode":0,"ErrMsg":"Success"}
	// gems: 60
}
