package itemshop_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/dbtest"
	"github.com/gomidas/midas/examples/itemshop"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Everything the store records is still there after the process stops and a
// new one opens the database: orders in each state, refunds, inventories
// and pending spends.
func TestSQLStoreSurvivesRestart(t *testing.T) {
	for _, db := range databases {
		t.Run(db.name, func(t *testing.T) {
			ctx := context.Background()
			driver, dsn := db.open(t)
			before := openStore(t, driver, dsn)
			orders := []itemshop.Order{
				{OutTradeNo: "r-pending", OpenID: "p1", ProductID: "sword", Quantity: 1, Price: 100, Env: midas.Production},
				{OutTradeNo: "r-delivered", OpenID: "p1", ProductID: "sword", Quantity: 2, Price: 100, Env: midas.Production},
				{OutTradeNo: "r-refunded", OpenID: "p1", ProductID: "shield", Quantity: 1, Price: 250, Env: midas.Production},
			}
			for _, o := range orders {
				require.NoError(t, before.AddOrder(ctx, o))
			}
			assert.ErrorIs(t, before.AddOrder(ctx, orders[0]), itemshop.ErrDuplicateOrder)
			for _, o := range orders[1:] {
				res, err := before.Deliver(ctx, o, func(*itemshop.Order) error { return nil })
				require.NoError(t, err)
				require.Equal(t, itemshop.Granted, res)
			}
			res, err := before.Refund(ctx, itemshop.Refund{RefundID: "rf-1", OutTradeNo: "r-refunded", OpenID: "p1", Amount: 250, Source: 1})
			require.NoError(t, err)
			require.Equal(t, itemshop.RefundRevoked, res)
			created := time.UnixMilli(time.Now().Add(-time.Hour).UnixMilli()) // the store keeps milliseconds
			for _, sp := range []itemshop.Spend{
				{BillNo: "b-pending", OpenID: "p1", ProductID: "sword", Quantity: 1, Coins: 10, CreatedAt: created},
				{BillNo: "b-paid", OpenID: "p1", ProductID: "shield", Quantity: 3, Coins: 75},
			} {
				require.NoError(t, before.AddSpend(ctx, sp))
			}
			changed, err := before.FinishSpend(ctx, "b-paid", true, time.Time{})
			require.NoError(t, err)
			require.True(t, changed)
			require.NoError(t, before.Close())

			after := openStore(t, driver, dsn)
			want := map[string]itemshop.Order{
				"r-pending":   orders[0],
				"r-delivered": withFlags(orders[1], true, false),
				"r-refunded":  withFlags(orders[2], true, true),
			}
			for id, w := range want {
				got, ok, err := after.Order(ctx, id)
				require.NoError(t, err)
				require.True(t, ok, id)
				assert.Equal(t, w, got, id)
			}
			inv, err := after.Inventory(ctx, "p1")
			require.NoError(t, err)
			assert.Equal(t, map[string]int64{"sword": 2, "shield": 3}, inv, "r-delivered and b-paid; r-refunded revoked")
			pending, err := after.PendingSpends(ctx, "")
			require.NoError(t, err)
			assert.Equal(t, []itemshop.Spend{{BillNo: "b-pending", OpenID: "p1", ProductID: "sword", Quantity: 1, Coins: 10,
				State: itemshop.SpendPending, CreatedAt: created, UnclearAt: created}}, pending, "UnclearAt not given: the creation time")
			paid, ok, err := after.Spend(ctx, "b-paid")
			require.NoError(t, err)
			assert.True(t, ok)
			assert.Equal(t, itemshop.SpendPaid, paid.State)

			// And the once-only rules hold across the restart.
			res2, err := after.Deliver(ctx, orders[1], func(*itemshop.Order) error { return nil })
			require.NoError(t, err)
			assert.Equal(t, itemshop.AlreadyDelivered, res2)
			res3, err := after.Refund(ctx, itemshop.Refund{RefundID: "rf-1", OutTradeNo: "r-refunded"})
			require.NoError(t, err)
			assert.Equal(t, itemshop.RefundRepeat, res3)
			changed, err = after.FinishSpend(ctx, "b-paid", true, time.Time{})
			require.NoError(t, err)
			assert.False(t, changed)
		})
	}
}

func withFlags(o itemshop.Order, delivered, refunded bool) itemshop.Order {
	o.Delivered, o.Refunded = delivered, refunded
	return o
}

// Two stores (two pools, as two instances) on one database race deliveries,
// refunds and spend outcomes for the same rows: each order is granted at
// most once, exactly once unless refunded first; a refunded order holds
// nothing in the inventory; each refund id and each spend has one effect.
func TestSQLStoreOnceUnderConcurrency(t *testing.T) {
	for _, db := range databases {
		t.Run(db.name, func(t *testing.T) {
			ctx := context.Background()
			driver, dsn := db.open(t)
			stores := []*itemshop.SQLStore{openStore(t, driver, dsn), openStore(t, driver, dsn)}
			const n = 24
			orders := make([]itemshop.Order, n)
			for i := range orders {
				orders[i] = itemshop.Order{OutTradeNo: fmt.Sprintf("c-%02d", i), OpenID: fmt.Sprintf("p%d", i%3),
					ProductID: "sword", Quantity: int64(1 + i%4), Price: 100, Env: midas.Production}
				if i%4 != 3 { // every fourth is known only from its pushes
					require.NoError(t, stores[0].AddOrder(ctx, orders[i]))
				}
				require.NoError(t, stores[1].AddSpend(ctx, itemshop.Spend{BillNo: fmt.Sprintf("s-%02d", i), OpenID: orders[i].OpenID,
					ProductID: "shield", Quantity: 1, Coins: 25}))
			}
			var (
				mu       sync.Mutex
				granted  = map[string]int{}
				refunds  = map[string]int{} // refund id → calls that were not a repeat
				spendWon = map[string]int{}
			)
			var wg sync.WaitGroup
			for i, o := range orders {
				for g := 0; g < 6; g++ {
					wg.Add(1)
					go func(seed int) {
						defer wg.Done()
						rng := rand.New(rand.NewPCG(uint64(seed), 9))
						st := stores[rng.IntN(2)]
						switch {
						case g < 4:
							res, err := st.Deliver(ctx, o, func(*itemshop.Order) error { return nil })
							assert.NoError(t, err)
							if res == itemshop.Granted {
								mu.Lock()
								granted[o.OutTradeNo]++
								mu.Unlock()
							}
						case i%3 == 0: // a third are refunded, each refund pushed twice
							res, err := st.Refund(ctx, itemshop.Refund{RefundID: "rf-" + o.OutTradeNo, OutTradeNo: o.OutTradeNo, OpenID: o.OpenID})
							assert.NoError(t, err)
							if res != itemshop.RefundRepeat {
								mu.Lock()
								refunds[o.OutTradeNo]++
								mu.Unlock()
							}
						default:
							changed, err := st.FinishSpend(ctx, fmt.Sprintf("s-%02d", i), g == 4, time.Time{})
							assert.NoError(t, err)
							if changed {
								mu.Lock()
								spendWon[fmt.Sprintf("s-%02d", i)]++
								mu.Unlock()
							}
						}
					}(i*10 + g)
				}
			}
			wg.Wait()

			want := map[string]map[string]int64{"p0": {}, "p1": {}, "p2": {}}
			for i, o := range orders {
				got, ok, err := stores[0].Order(ctx, o.OutTradeNo)
				require.NoError(t, err)
				require.True(t, ok)
				if i%3 == 0 {
					assert.Equal(t, 1, refunds[o.OutTradeNo], "one refund of %s took effect", o.OutTradeNo)
					assert.True(t, got.Refunded)
					assert.LessOrEqual(t, granted[o.OutTradeNo], 1, o.OutTradeNo)
					assert.Equal(t, got.Delivered, granted[o.OutTradeNo] == 1, o.OutTradeNo)
				} else {
					assert.Equal(t, 1, granted[o.OutTradeNo], "grants of %s", o.OutTradeNo)
					assert.True(t, got.Delivered && !got.Refunded)
					want[o.OpenID]["sword"] += o.Quantity
				}
				assert.Equal(t, i%4 == 3, got.FromPush, o.OutTradeNo)
				bill := fmt.Sprintf("s-%02d", i)
				sp, _, err := stores[1].Spend(ctx, bill)
				require.NoError(t, err)
				if i%3 != 0 {
					assert.Equal(t, 1, spendWon[bill], bill)
					assert.NotEqual(t, itemshop.SpendPending, sp.State, bill)
					if sp.State == itemshop.SpendPaid {
						want[o.OpenID]["shield"]++
					}
				} else {
					assert.Equal(t, itemshop.SpendPending, sp.State, bill)
				}
			}
			for p := 0; p < 3; p++ {
				openID := fmt.Sprintf("p%d", p)
				inv, err := stores[1].Inventory(ctx, openID)
				require.NoError(t, err)
				assert.Equal(t, want[openID], inv, openID)
			}
		})
	}
}

// UnclearAt only rises through ExtendUnclear, comes back down only through
// RestoreUnclear from the value that raised it, and a refusal is recorded
// only while it is not later than the caller saw.
func TestSQLStoreUnclearAt(t *testing.T) {
	for _, db := range databases {
		t.Run(db.name, func(t *testing.T) {
			ctx := context.Background()
			driver, dsn := db.open(t)
			st := openStore(t, driver, dsn)
			t0 := time.UnixMilli(time.Now().UnixMilli())
			require.NoError(t, st.AddSpend(ctx, itemshop.Spend{BillNo: "u-1", OpenID: "p1", ProductID: "sword", Quantity: 1, Coins: 10,
				CreatedAt: t0, UnclearAt: t0.Add(10 * time.Second)}))
			unclearAt := func() time.Time {
				sp, ok, err := st.Spend(ctx, "u-1")
				require.NoError(t, err)
				require.True(t, ok)
				return sp.UnclearAt
			}
			assert.Equal(t, t0.Add(10*time.Second), unclearAt())

			prior, raised, ok, err := st.ExtendUnclear(ctx, "u-1", t0.Add(time.Minute))
			require.NoError(t, err)
			require.True(t, ok)
			assert.Equal(t, t0.Add(10*time.Second), prior)
			assert.Equal(t, t0.Add(time.Minute), raised)
			// Never lowered; a raise to a time already passed still sets a
			// value of its own, just past the current one.
			prior, raised2, ok, err := st.ExtendUnclear(ctx, "u-1", t0.Add(30*time.Second))
			require.NoError(t, err)
			require.True(t, ok)
			assert.Equal(t, t0.Add(time.Minute), prior)
			assert.Equal(t, t0.Add(time.Minute+time.Millisecond), raised2)
			assert.Equal(t, raised2, unclearAt())

			// Another call raised it since: undoing the first raise is a no-op.
			require.NoError(t, st.RestoreUnclear(ctx, "u-1", raised, t0.Add(10*time.Second)))
			assert.Equal(t, raised2, unclearAt())
			require.NoError(t, st.RestoreUnclear(ctx, "u-1", raised2, raised))
			require.NoError(t, st.RestoreUnclear(ctx, "u-1", raised, t0.Add(10*time.Second)))
			assert.Equal(t, t0.Add(10*time.Second), unclearAt())

			changed, err := st.FinishSpend(ctx, "u-1", false, t0.Add(9*time.Second)) // raised after the caller looked
			require.NoError(t, err)
			assert.False(t, changed)
			assert.Equal(t, itemshop.SpendPending, mustSpend(t, st, "u-1").State)
			changed, err = st.FinishSpend(ctx, "u-1", false, t0.Add(10*time.Second))
			require.NoError(t, err)
			assert.True(t, changed)
			assert.Equal(t, itemshop.SpendFailed, mustSpend(t, st, "u-1").State)

			_, _, ok, err = st.ExtendUnclear(ctx, "u-1", t0.Add(time.Hour)) // settled: nothing to raise
			require.NoError(t, err)
			assert.False(t, ok)
			_, _, ok, err = st.ExtendUnclear(ctx, "no-such-bill", t0.Add(time.Hour))
			require.NoError(t, err)
			assert.False(t, ok)
		})
	}
}

func mustSpend(t *testing.T, st *itemshop.SQLStore, billNo string) itemshop.Spend {
	t.Helper()
	sp, ok, err := st.Spend(context.Background(), billNo)
	require.NoError(t, err)
	require.True(t, ok, billNo)
	return sp
}

// A database made by the schema before unclear_at existed opens: the column
// is added and a pending spend's UnclearAt is its creation plus the pay's
// timeout (10 s), as AddSpend sets it now. Opening again changes nothing.
func TestSQLStoreUpgradesSpendsWithoutUnclearAt(t *testing.T) {
	for _, db := range databases {
		t.Run(db.name, func(t *testing.T) {
			ctx := context.Background()
			driver, dsn := db.open(t)
			old := dbtest.Open(t, driver, dsn)
			_, err := old.ExecContext(ctx, `CREATE TABLE itemshop_spends (
				bill_no    VARCHAR(64) NOT NULL PRIMARY KEY,
				openid     VARCHAR(128) NOT NULL,
				product_id VARCHAR(64) NOT NULL,
				quantity   BIGINT NOT NULL,
				coins      BIGINT NOT NULL,
				state      VARCHAR(16) NOT NULL,
				created_at BIGINT NOT NULL,
				settled_at BIGINT NULL)`)
			require.NoError(t, err)
			created := time.UnixMilli(time.Now().Add(-time.Hour).UnixMilli())
			_, err = old.ExecContext(ctx, `INSERT INTO itemshop_spends (bill_no, openid, product_id, quantity, coins, state, created_at)
				VALUES ('old-1', 'p1', 'sword', 1, 10, 'pending', `+fmt.Sprint(created.UnixMilli())+`)`)
			require.NoError(t, err)

			for i := 0; i < 2; i++ {
				st := openStore(t, driver, dsn)
				pending, err := st.PendingSpends(ctx, "")
				require.NoError(t, err)
				assert.Equal(t, []itemshop.Spend{{BillNo: "old-1", OpenID: "p1", ProductID: "sword", Quantity: 1, Coins: 10,
					State: itemshop.SpendPending, CreatedAt: created, UnclearAt: created.Add(10 * time.Second)}}, pending)
				require.NoError(t, st.Close())
			}
		})
	}
}

// go-sql-driver/mysql's clientFoundRows=true makes MySQL count a row that
// an upsert found unchanged as affected: duplicates are still found.
func TestSQLStoreDuplicatesWithClientFoundRows(t *testing.T) {
	ctx := context.Background()
	driver, dsn := dbtest.MariaDB(t)
	st := openStore(t, driver, dsn+"&clientFoundRows=true")
	o := itemshop.Order{OutTradeNo: "cfr-1", OpenID: "p1", ProductID: "sword", Quantity: 1, Price: 100, Env: midas.Production}
	require.NoError(t, st.AddOrder(ctx, o))
	assert.ErrorIs(t, st.AddOrder(ctx, o), itemshop.ErrDuplicateOrder)

	sp := itemshop.Spend{BillNo: "cfr-s1", OpenID: "p1", ProductID: "sword", Quantity: 1, Coins: 10}
	require.NoError(t, st.AddSpend(ctx, sp))
	assert.ErrorIs(t, st.AddSpend(ctx, sp), itemshop.ErrDuplicateOrder)

	rf := itemshop.Refund{RefundID: "cfr-rf1", OutTradeNo: "cfr-1", OpenID: "p1", Amount: 100, Source: 1}
	res, err := st.Refund(ctx, rf)
	require.NoError(t, err)
	assert.Equal(t, itemshop.RefundBeforeDelivery, res)
	res, err = st.Refund(ctx, rf)
	require.NoError(t, err)
	assert.Equal(t, itemshop.RefundRepeat, res)

	// A push for an order the shop never saw records it once and grants once.
	pushed := itemshop.Order{OutTradeNo: "cfr-2", OpenID: "p1", ProductID: "shield", Quantity: 2, Price: 250, Env: midas.Production}
	for _, want := range []itemshop.DeliverResult{itemshop.Granted, itemshop.AlreadyDelivered} {
		got, err := st.Deliver(ctx, pushed, func(*itemshop.Order) error { return nil })
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	inv, err := st.Inventory(ctx, "p1")
	require.NoError(t, err)
	assert.Equal(t, map[string]int64{"shield": 2}, inv)
}
