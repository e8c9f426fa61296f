package itemshop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/dbtest"
	"github.com/gomidas/midas/examples/itemshop"
	"github.com/gomidas/midas/midastest"
	"github.com/gomidas/midas/push"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scaleStats counts what the chaos stores saw, across instances and
// restarts.
type scaleStats struct {
	failed     atomic.Int64 // Deliver and Refund calls failed on purpose
	granted    atomic.Int64 // Deliver calls that granted
	duplicates atomic.Int64 // Deliver calls that found the order delivered
	refusedRef atomic.Int64 // Deliver calls that found the order refunded
	mu         sync.Mutex
	grants     map[string]int // OutTradeNo → Deliver calls that granted
	realErrs   map[string]int // errors of the database itself → count
}

func (s *scaleStats) realErr(err error) {
	if err == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.realErrs[err.Error()]++
}

// chaosStore fails one Deliver or Refund call in ten before it reaches the
// database, as a dropped connection would: the push is answered with a
// failure and WeChat retries it.
type chaosStore struct {
	itemshop.Store
	stats *scaleStats
}

func (c chaosStore) Deliver(ctx context.Context, paid itemshop.Order, check func(*itemshop.Order) error) (itemshop.DeliverResult, error) {
	if rand.IntN(10) == 0 {
		c.stats.failed.Add(1)
		return 0, errStoreDown
	}
	res, err := c.Store.Deliver(ctx, paid, check)
	c.stats.realErr(err)
	switch res {
	case itemshop.Granted:
		c.stats.granted.Add(1)
		c.stats.mu.Lock()
		c.stats.grants[paid.OutTradeNo]++
		c.stats.mu.Unlock()
	case itemshop.AlreadyDelivered:
		c.stats.duplicates.Add(1)
	case itemshop.RefundedFirst:
		c.stats.refusedRef.Add(1)
	}
	return res, err
}

func (c chaosStore) Refund(ctx context.Context, r itemshop.Refund) (itemshop.RefundResult, error) {
	if rand.IntN(10) == 0 {
		c.stats.failed.Add(1)
		return 0, errStoreDown
	}
	res, err := c.Store.Refund(ctx, r)
	c.stats.realErr(err)
	return res, err
}

// instance is one itemshop process: its own pool and its own HTTP server.
type instance struct {
	store *itemshop.SQLStore
	shop  *itemshop.Server
	ts    *httptest.Server
}

// balancer spreads requests at random over the live instances' URLs, as a
// load balancer in front of them; a request for an instance that is down
// is answered 502.
type balancer struct {
	mu     sync.Mutex
	urls   []string // "" while an instance is down
	client *http.Client
}

func (b *balancer) set(i int, url string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.urls[i] = url
}

func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	url := b.urls[rand.IntN(len(b.urls))]
	b.mu.Unlock()
	if url == "" {
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, url+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := b.client.Do(req)
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// The proof at scale: two itemshop instances (two HTTP servers,
// two pools) on one database, WeChat's pushes for 2,000 paid orders sent 1
// to 5 times each to a random instance, one Deliver or Refund in ten
// failing, one instance restarted mid-run, and one order in ten refunded
// (half before any push got through, half after delivery). Every paid
// order that was not refunded is delivered exactly once; none is lost; no
// refunded order holds its items, and one refunded before delivery is
// never delivered. SQLite, one writer at a time, runs a quarter of the
// orders to keep the test's time bounded.
func TestTwoInstancesOneDatabase(t *testing.T) {
	for _, db := range []struct {
		name   string
		open   func(testing.TB) (string, string)
		orders int
	}{{"postgres", dbtest.Postgres, 2000}, {"sqlite", dbtest.SQLite, 500}} {
		t.Run(db.name, func(t *testing.T) {
			driver, dsn := db.open(t)
			runScale(t, driver, dsn, db.orders)
		})
	}
}

func runScale(t *testing.T, driver, dsn string, orders int) {
	ctx := context.Background()
	began := time.Now()
	fake := midastest.NewServer(midastest.Config{AppID: appID, OfferID: offerID, AppKey: appKey,
		AccessTokens: []string{accessToken}, Players: players})
	t.Cleanup(fake.Close)
	client, err := midas.NewClient(midas.Config{AppID: appID, OfferID: offerID, AppKey: appKey, Version: midas.V2,
		AccessToken: midas.StaticToken(accessToken)}, midas.WithBaseURL(fake.URL))
	require.NoError(t, err)
	pc := push.Config{Token: pushToken, AppID: appID, AppKey: appKey}
	stats := &scaleStats{grants: map[string]int{}, realErrs: map[string]int{}}
	lb := &balancer{urls: make([]string, 2), client: &http.Client{Timeout: 10 * time.Second}}
	lbServer := httptest.NewServer(lb)
	t.Cleanup(lbServer.Close)

	start := func(i int) *instance {
		st, err := itemshop.OpenSQLStore(ctx, driver, dsn)
		require.NoError(t, err)
		st.DB().SetMaxOpenConns(16) // two instances well within the server's connections
		shop, err := itemshop.New(itemshop.Config{Midas: client, Push: pc, Catalogue: catalogue,
			Store: chaosStore{Store: st, stats: stats}})
		require.NoError(t, err)
		in := &instance{store: st, shop: shop, ts: httptest.NewServer(shop)}
		lb.set(i, in.ts.URL)
		return in
	}
	stop := func(i int, in *instance) {
		lb.set(i, "")
		in.ts.CloseClientConnections()
		in.ts.Close()
		in.store.Close()
	}
	var instMu sync.Mutex
	instances := []*instance{start(0), start(1)}
	t.Cleanup(func() {
		instMu.Lock()
		defer instMu.Unlock()
		for i, in := range instances {
			stop(i, in)
		}
	})
	// A compressed retry schedule that still outlasts a restart: about 4 s
	// in all, its first retries within milliseconds.
	target := midastest.PushTarget{URL: lbServer.URL + itemshop.PushPath, Token: pushToken, RetryUnit: 50 * time.Microsecond}
	dead := midastest.PushTarget{Token: pushToken, RetryUnit: time.Nanosecond,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })}

	type result struct {
		id                string
		player            midastest.Player
		product           string
		quantity          int64
		refundBefore      bool
		refundAfter       bool
		pushesOK          bool
		lateAcked, copies int
	}
	results := make([]result, orders)
	products := []string{"gem_pack_60", "sword", "shield"}
	var restarts atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 24) // bounded load: 24 orders in flight
	for i := 0; i < orders; i++ {
		if i == orders/2 {
			wg.Add(1)
			go func() { // one instance crashes and comes back, mid-run
				defer wg.Done()
				instMu.Lock()
				defer instMu.Unlock()
				stop(1, instances[1])
				time.Sleep(50 * time.Millisecond)
				instances[1] = start(1)
				restarts.Add(1)
			}()
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			rng := rand.New(rand.NewPCG(uint64(i), 15))
			res := result{player: players[rng.IntN(len(players))], product: products[rng.IntN(len(products))],
				quantity: 1 + rng.Int64N(3), refundBefore: i%20 == 0, refundAfter: i%20 == 10, copies: 1 + rng.IntN(5)}
			pay := placeThrough(t, lbServer.URL, res.player, res.product, res.quantity)
			res.id = pay.OutTradeNo
			p := midastest.ItemPurchase{OpenID: res.player.OpenID, OutTradeNo: pay.OutTradeNo, ProductID: pay.ProductID,
				Quantity: pay.BuyQuantity, Price: pay.GoodsPrice}
			if res.refundBefore {
				// Every push is lost, then the order is refunded; the lost
				// pushes come back late, and Reconcile runs.
				bought, err := fake.BuyItem(ctx, p, dead)
				if !assert.ErrorIs(t, err, midastest.ErrNotDelivered) {
					return
				}
				_, err = fake.Refund(ctx, midastest.RefundNotice{OutTradeNo: res.id}, target)
				assert.NoError(t, err)
				for k := 0; k < res.copies; k++ {
					// Each late copy is repeated until acknowledged, as
					// WeChat would: it may meet a failure or a restart.
					for try := 0; try < 20; try++ {
						late, err := fake.Resend(ctx, target, bought.Pushes[k])
						if err == nil && late.Success {
							res.lateAcked++
							break
						}
					}
				}
				results[i] = res
				return
			}
			pp, err := fake.BuyItemAsync(ctx, p, target)
			if !assert.NoError(t, err) {
				return
			}
			payload := itemPayload(p.OpenID, p.OutTradeNo, p.ProductID, p.Quantity, p.Price, midas.Production)
			for k := 1; k < res.copies; k++ { // WeChat's repeats, racing the first push
				fake.PushRaw(ctx, target, midastest.EventItemDeliver, payload, midastest.PushOptions{})
			}
			got, err := pp.Wait()
			res.pushesOK = err == nil && got.Delivered
			if res.refundAfter {
				_, err = fake.Refund(ctx, midastest.RefundNotice{OutTradeNo: res.id}, target)
				assert.NoError(t, err)
			}
			results[i] = res
		}(i)
	}
	wg.Wait()

	// The backstop for any order whose pushes all failed: Reconcile.
	instMu.Lock()
	shop := instances[0].shop
	instMu.Unlock()
	reconciled := 0
	for _, r := range results {
		if r.refundBefore || r.pushesOK || r.id == "" {
			continue
		}
		done, err := shop.Reconcile(ctx, r.id, r.player.SessionKey)
		if assert.NoError(t, err, r.id) && assert.True(t, done, r.id) {
			reconciled++
		}
	}
	for _, r := range results {
		if r.refundBefore && r.id != "" {
			_, err := shop.Reconcile(ctx, r.id, r.player.SessionKey)
			assert.ErrorIs(t, err, itemshop.ErrRefunded, r.id)
		}
	}

	// What the database holds, read by a pool of its own.
	check := dbtest.Open(t, driver, checkDSN(driver, dsn))
	want := map[string]map[string]int64{}
	for _, p := range players {
		want[p.OpenID] = map[string]int64{}
	}
	stats.mu.Lock()
	grants := stats.grants
	stats.mu.Unlock()
	var refunded, lost, twice int
	for _, r := range results {
		require.NotEmpty(t, r.id, "every order was placed")
		var delivered, isRefunded bool
		require.NoError(t, check.QueryRow(q(driver, `SELECT delivered_at IS NOT NULL, refunded_at IS NOT NULL FROM itemshop_orders WHERE out_trade_no = ?`), r.id).
			Scan(&delivered, &isRefunded))
		var live, all int
		require.NoError(t, check.QueryRow(q(driver, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN revoked_at IS NULL THEN 1 ELSE 0 END), 0) FROM itemshop_grants WHERE grant_id = ?`),
			"order:"+r.id).Scan(&all, &live))
		switch {
		case r.refundBefore:
			refunded++
			assert.True(t, isRefunded, r.id)
			assert.False(t, delivered, "%s was refunded before delivery and delivered", r.id)
			assert.Zero(t, all, r.id)
			assert.Zero(t, grants[r.id], r.id)
			assert.Equal(t, r.copies, r.lateAcked, "late pushes of refunded %s are acknowledged", r.id)
		case r.refundAfter:
			refunded++
			assert.True(t, isRefunded && delivered, r.id)
			assert.Equal(t, 1, all, r.id)
			assert.Zero(t, live, "refunded %s still holds its items", r.id)
			assert.Equal(t, 1, grants[r.id], r.id)
		default:
			if !delivered || all == 0 {
				lost++
			}
			if grants[r.id] > 1 || all > 1 {
				twice++
			}
			assert.True(t, delivered && !isRefunded, r.id)
			assert.Equal(t, 1, all, r.id)
			assert.Equal(t, 1, live, r.id)
			want[r.player.OpenID][r.product] += r.quantity
		}
	}
	for _, p := range players {
		inv, err := instances[0].store.Inventory(ctx, p.OpenID)
		require.NoError(t, err)
		assert.Equal(t, want[p.OpenID], inv, p.OpenID)
	}
	assert.Zero(t, lost, "orders lost")
	assert.Zero(t, twice, "orders delivered twice")
	assert.Equal(t, int64(1), restarts.Load())
	assert.Positive(t, stats.failed.Load(), "failures were injected")
	assert.Positive(t, stats.duplicates.Load(), "duplicates were absorbed")

	// The figures README.md reports.
	var sent, lostOnPurpose, storeFailed, instanceDown int
	for _, p := range fake.Pushes() {
		switch {
		case p.Status == http.StatusServiceUnavailable:
			lostOnPurpose++ // the dead target of the refunded-first orders
			continue
		case p.Status == http.StatusInternalServerError:
			storeFailed++
		case p.Status == http.StatusBadGateway:
			instanceDown++
		}
		sent++
	}
	var grantRows int64
	require.NoError(t, check.QueryRow(`SELECT COUNT(*) FROM itemshop_grants`).Scan(&grantRows))
	assert.EqualValues(t, orders-orders/20, grantRows, "one grant per order but those refunded before delivery")
	// A grant whose commit succeeded while its caller saw an error (the
	// context cut at commit) is in the database but not in stats.granted:
	// its push was answered with a failure and the retry found it delivered.
	t.Logf("%s: %d orders (%d refunded: %d before any push got through, %d after delivery); %d pushes to the instances, "+
		"%d answered with a failure by an injected store failure and %d by the instance being down, all retried; "+
		"%d grants (%d seen committed by their caller), %d duplicates absorbed, %d pushes of refunded orders granted nothing; "+
		"%d injected failures in all; %d restart; %d reconciled; %d lost, %d delivered twice; %v",
		driver, orders, refunded, orders/20, orders/20, sent, storeFailed, instanceDown,
		grantRows, stats.granted.Load(), stats.duplicates.Load(), stats.refusedRef.Load(),
		stats.failed.Load(), restarts.Load(), reconciled, lost, twice, time.Since(began).Round(100*time.Millisecond))
	for msg, n := range stats.realErrs {
		t.Logf("%s: the database failed %d times (answered a failure, retried by WeChat): %s", driver, n, msg)
	}
}

// checkDSN is dsn for a plain pool of the test's own.
func checkDSN(driver, dsn string) string {
	if driver == "sqlite" {
		return itemshop.SQLiteDSN(dsn)
	}
	return dsn
}

// q numbers the placeholders for PostgreSQL.
func q(driver, query string) string {
	if driver != "pgx" {
		return query
	}
	var b bytes.Buffer
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// placeThrough places an order through the load balancer, again while it
// answers 502 (an instance down), and returns what was signed.
func placeThrough(t *testing.T, url string, p midastest.Player, product string, quantity int64) signData {
	body, _ := json.Marshal(itemshop.OrderRequest{OpenID: p.OpenID, SessionKey: p.SessionKey, ProductID: product, Quantity: quantity})
	for attempt := 0; ; attempt++ {
		resp, err := http.Post(url+itemshop.OrderPath, "application/json", bytes.NewReader(body))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				var pay midas.GameItemPayment
				var d signData
				if json.Unmarshal(b, &pay) == nil && json.Unmarshal([]byte(pay.SignData), &d) == nil {
					return d
				}
			}
			err = errors.New(resp.Status)
		}
		if attempt == 50 {
			t.Errorf("placing an order: %v", err)
			return signData{}
		}
		time.Sleep(10 * time.Millisecond)
	}
}
