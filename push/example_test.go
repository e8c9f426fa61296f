package push_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"time"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/push"
)

// A handler that delivers each order once, keyed on OutTradeNo (this demo
// takes sandbox orders only; in general the key is Env and OutTradeNo):
// WeChat's retry of a push it already delivered is answered with success and
// grants nothing. The map stands for your database; there, record OutTradeNo under a
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

// Several server instances share one SQLDeduper in their database, so a push
// and its repeats are delivered once whichever instance receives them. The
// driver is the caller's (here pgx's database/sql adapter, imported as
// _ "github.com/jackc/pgx/v5/stdlib"); push itself imports none.
func ExampleNewSQLDeduper() {
	ctx := context.Background()
	db, err := sql.Open("pgx", "postgres://game@127.0.0.1:5432/game")
	if err != nil {
		log.Fatal(err)
	}
	dedup, err := push.NewSQLDeduper(db, push.PostgreSQL)
	if err != nil {
		log.Fatal(err)
	}
	if err := dedup.CreateTable(ctx); err != nil { // or apply dedup.Schema() in your migrations
		log.Fatal(err)
	}
	go func() { // forget done keys past their TTL
		for range time.Tick(time.Hour) {
			if _, err := dedup.Purge(ctx); err != nil {
				log.Print(err)
			}
		}
	}()
	// A production server holds the production AppKey only: a sandbox push
	// (an order never paid) then fails verification and is never delivered.
	cfg := push.Config{Token: "my-push-token", AppID: "wx1234567890abcdef", AppKey: "prod-key"}
	h, err := push.NewHandler(cfg, push.Handlers{ItemDelivered: deliverItem}, push.WithDeduper(dedup))
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: ":8080", Handler: h, ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

// deliverItem stands for a game's delivery: grant the items in its database.
func deliverItem(context.Context, *push.ItemDelivery) error { return nil }
