package dbtest_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomidas/midas"
	"github.com/gomidas/midas/dbtest"
	"github.com/gomidas/midas/push"
)

// database is one SQL server kind the SQLDeduper is tested on.
type database struct {
	name    string
	dialect push.Dialect
	newDB   func(testing.TB) (driver, dsn string)
}

var databases = []database{
	{"sqlite", push.SQLite, dbtest.SQLite},
	{"postgres", push.PostgreSQL, dbtest.Postgres},
	{"mariadb", push.MySQL, dbtest.MariaDB},
	// With clientFoundRows the driver counts matched rows, not changed ones:
	// the MySQL claim must not depend on the count.
	{"mariadb_found_rows", push.MySQL, func(t testing.TB) (string, string) {
		driver, dsn := dbtest.MariaDB(t)
		return driver, dsn + "&clientFoundRows=true"
	}},
}

// forEachDatabase runs test on a new empty database of every kind.
func forEachDatabase(t *testing.T, test func(t *testing.T, db database, driver, dsn string)) {
	for _, db := range databases {
		t.Run(db.name, func(t *testing.T) {
			driver, dsn := db.newDB(t)
			test(t, db, driver, dsn)
		})
	}
}

// clock is a settable clock shared by the SQLDeduper instances of a test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newDeduper returns an SQLDeduper on sqlDB with its table created.
func newDeduper(t *testing.T, sqlDB *sql.DB, dialect push.Dialect, opts ...push.DeduperOption) *push.SQLDeduper {
	t.Helper()
	d, err := push.NewSQLDeduper(sqlDB, dialect, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CreateTable(context.Background()); err != nil {
		t.Fatal(err)
	}
	return d
}

// want checks what Begin answered.
func wantBegin(t *testing.T, d push.Deduper, key, want string) {
	t.Helper()
	done, err := d.Begin(context.Background(), key)
	got := "claimed"
	switch {
	case errors.Is(err, push.ErrInProgress):
		got = "in progress"
	case err != nil:
		t.Fatalf("Begin(%q): %v", key, err)
	case done:
		got = "done"
	}
	if got != want {
		t.Fatalf("Begin(%q) = %s, want %s", key, got, want)
	}
}

// wantClaim claims key with BeginClaim, as the push handler does.
func wantClaim(t *testing.T, d push.ClaimDeduper, key string) push.Claim {
	t.Helper()
	claim, done, err := d.BeginClaim(context.Background(), key)
	if err != nil || done || claim == nil {
		t.Fatalf("BeginClaim(%q) = %v, %v, %v; want a claim", key, claim, done, err)
	}
	return claim
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

const lease = 30 * time.Second

// The SQLDeduper's contract, the same on every database: claim, done,
// release, lease expiry, done TTL, purge, keys compared byte by byte.
func TestSQLDeduper(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		run  func(t *testing.T, clk *clock, a, b *push.SQLDeduper)
	}{
		{"claim then done", func(t *testing.T, clk *clock, a, b *push.SQLDeduper) {
			wantBegin(t, a, "k", "claimed")
			wantBegin(t, a, "k", "in progress")
			wantBegin(t, b, "k", "in progress")
			must(t, a.Done(ctx, "k"))
			wantBegin(t, a, "k", "done")
			wantBegin(t, b, "k", "done")
			if ok, err := b.Delivered(ctx, "k"); err != nil || !ok {
				t.Fatalf("Delivered = %v, %v", ok, err)
			}
			must(t, b.Release(ctx, "k")) // a done key stays done
			wantBegin(t, b, "k", "done")
		}},
		{"release lets the next claim", func(t *testing.T, clk *clock, a, b *push.SQLDeduper) {
			wantBegin(t, a, "k", "claimed")
			must(t, a.Release(ctx, "k"))
			wantBegin(t, b, "k", "claimed")
			if ok, err := b.Delivered(ctx, "k"); err != nil || ok {
				t.Fatalf("Delivered = %v, %v", ok, err)
			}
		}},
		{"lease expires", func(t *testing.T, clk *clock, a, b *push.SQLDeduper) {
			wantBegin(t, a, "k", "claimed")
			clk.Advance(lease - time.Millisecond)
			wantBegin(t, b, "k", "in progress")
			clk.Advance(time.Millisecond)
			wantBegin(t, b, "k", "claimed")
			wantBegin(t, a, "k", "in progress")
			// The first holder's late Release leaves the new claim alone.
			must(t, a.Release(ctx, "k"))
			wantBegin(t, a, "k", "in progress")
			must(t, b.Done(ctx, "k"))
			wantBegin(t, a, "k", "done")
		}},
		{"a claim outlives its lease in one instance", func(t *testing.T, clk *clock, a, b *push.SQLDeduper) {
			late := wantClaim(t, a, "k")
			clk.Advance(lease)
			took := wantClaim(t, a, "k") // the same instance takes the key over
			must(t, late.Release(ctx))   // the late holder's claim is gone: no-op
			wantBegin(t, b, "k", "in progress")
			must(t, took.Release(ctx))
			wantBegin(t, b, "k", "claimed")
			must(t, b.Release(ctx, "k"))

			late = wantClaim(t, a, "k")
			clk.Advance(lease)
			took = wantClaim(t, a, "k")
			must(t, late.Done(ctx)) // its handler succeeded: done for good
			must(t, took.Release(ctx))
			wantBegin(t, b, "k", "done")
		}},
		{"late done of an expired claim still counts", func(t *testing.T, clk *clock, a, b *push.SQLDeduper) {
			wantBegin(t, a, "k", "claimed")
			clk.Advance(2 * lease)
			must(t, a.Done(ctx, "k"))
			wantBegin(t, b, "k", "done")
		}},
		{"done key expires after the TTL", func(t *testing.T, clk *clock, a, b *push.SQLDeduper) {
			wantBegin(t, a, "k", "claimed")
			must(t, a.Done(ctx, "k"))
			clk.Advance(push.DefaultDoneTTL - time.Millisecond)
			wantBegin(t, b, "k", "done")
			clk.Advance(time.Millisecond)
			wantBegin(t, b, "k", "claimed")
		}},
		{"purge deletes expired rows only", func(t *testing.T, clk *clock, a, b *push.SQLDeduper) {
			wantBegin(t, a, "old-done", "claimed")
			must(t, a.Done(ctx, "old-done"))
			wantBegin(t, a, "old-claim", "claimed")
			clk.Advance(push.DefaultDoneTTL)
			wantBegin(t, a, "new-done", "claimed")
			must(t, a.Done(ctx, "new-done"))
			wantBegin(t, a, "new-claim", "claimed")
			clk.Advance(lease - time.Millisecond)
			n, err := b.Purge(ctx)
			must(t, err)
			if n != 2 {
				t.Fatalf("Purge deleted %d rows, want 2 (old-done, old-claim)", n)
			}
			if n, err := b.Purge(ctx); err != nil || n != 0 {
				t.Fatalf("second Purge = %d, %v", n, err)
			}
			wantBegin(t, b, "new-done", "done")
			wantBegin(t, b, "new-claim", "in progress")
			wantBegin(t, b, "old-done", "claimed")
		}},
		{"done without a claim", func(t *testing.T, clk *clock, a, b *push.SQLDeduper) {
			must(t, a.Done(ctx, "k"))
			wantBegin(t, b, "k", "done")
		}},
		{"keys compare byte by byte", func(t *testing.T, clk *clock, a, b *push.SQLDeduper) {
			keys := []string{
				push.ItemKey(midas.Production, "X1"), push.ItemKey(midas.Sandbox, "X1"),
				push.CoinKey(midas.Production, "X1"), push.RefundKey(midas.Production, "X1"),
				push.ItemKey(midas.Production, "x1"), push.ItemKey(midas.Production, "X1 "),
				push.ItemKey(midas.Production, "Ｘ1"), push.ItemKey(midas.Production, strings.Repeat("long", 40)),
				strings.Repeat("m", push.MaxKeyLen),
			}
			for _, k := range keys {
				wantBegin(t, a, k, "claimed")
				must(t, a.Done(ctx, k))
			}
			for _, k := range keys {
				wantBegin(t, b, k, "done")
			}
		}},
		{"bad keys", func(t *testing.T, clk *clock, a, b *push.SQLDeduper) {
			for _, k := range []string{"", strings.Repeat("k", push.MaxKeyLen+1)} {
				if _, err := a.Begin(ctx, k); err == nil {
					t.Fatalf("Begin of a %d-byte key succeeded", len(k))
				}
			}
		}},
	}
	forEachDatabase(t, func(t *testing.T, db database, driver, dsn string) {
		// Two instances (pools) on one database, as two server processes.
		poolA, poolB := dbtest.Open(t, driver, dsn), dbtest.Open(t, driver, dsn)
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				clk := newClock()
				table := push.WithTable(fmt.Sprintf("dedup_%d", i))
				opts := []push.DeduperOption{table, push.WithClock(clk.Now), push.WithLease(lease)}
				a := newDeduper(t, poolA, db.dialect, opts...)
				b := newDeduper(t, poolB, db.dialect, opts...) // CREATE ... IF NOT EXISTS again
				c.run(t, clk, a, b)
			})
		}
	})
}

// Many goroutines on two pools race Begin on the same keys: each key has
// exactly one winner, every other attempt sees it in progress, and once the
// winner is done every attempt sees done. Run with -count=20.
func TestSQLDeduperConcurrentClaims(t *testing.T) {
	const (
		keys       = 20
		goroutines = 16
	)
	ctx := context.Background()
	forEachDatabase(t, func(t *testing.T, db database, driver, dsn string) {
		ds := []*push.SQLDeduper{
			newDeduper(t, dbtest.Open(t, driver, dsn), db.dialect),
			newDeduper(t, dbtest.Open(t, driver, dsn), db.dialect),
		}
		var (
			wins    [keys]atomic.Int32
			winner  [keys]atomic.Pointer[push.SQLDeduper]
			retries atomic.Int32
			wg      sync.WaitGroup
			start   = make(chan struct{})
			failed  = make(chan error, goroutines)
		)
		for g := 0; g < goroutines; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				d := ds[g%2]
				<-start
				for i := 0; i < keys; i++ {
					k := i // half the goroutines in one order, half in the other
					if g%4 >= 2 {
						k = keys - 1 - i
					}
					key := push.ItemKey(midas.Production, fmt.Sprintf("RACE-%d", k))
					for attempt := 0; ; attempt++ {
						done, err := d.Begin(ctx, key)
						if errors.Is(err, push.ErrInProgress) {
							break
						}
						if err != nil {
							// A deadlock or lock timeout is a failure answer
							// (WeChat retries), not a second winner: retry.
							if attempt == 20 {
								failed <- err
								return
							}
							retries.Add(1)
							continue
						}
						if done {
							failed <- fmt.Errorf("key %d done before anyone finished", k)
							return
						}
						wins[k].Add(1)
						winner[k].Store(d)
						break
					}
				}
			}(g)
		}
		close(start)
		wg.Wait()
		close(failed)
		for err := range failed {
			t.Fatal(err)
		}
		for k := range wins {
			if n := wins[k].Load(); n != 1 {
				t.Fatalf("key %d: %d winners, want 1", k, n)
			}
			key := push.ItemKey(midas.Production, fmt.Sprintf("RACE-%d", k))
			must(t, winner[k].Load().Done(ctx, key))
			for _, d := range ds {
				wantBegin(t, d, key, "done")
			}
		}
		if n := retries.Load(); n > 0 {
			t.Logf("%d attempts retried after a database error", n)
		}
	})
}

// The push handler on an SQLDeduper shared by two instances on separate
// pools: each order is delivered once whichever instance gets its pushes,
// concurrent copies included, and a sandbox order does not hide the
// production order with the same OutTradeNo.
func TestSQLDeduperBehindTwoHandlers(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, db database, driver, dsn string) {
		var mu sync.Mutex
		delivered := map[string]int{}
		hs := push.Handlers{ItemDelivered: func(_ context.Context, d *push.ItemDelivery) error {
			mu.Lock()
			defer mu.Unlock()
			delivered[fmt.Sprintf("%d/%s", d.Env, d.OutTradeNo)]++
			return nil
		}}
		var senders []*sender
		for i := 0; i < 2; i++ {
			pool := dbtest.Open(t, driver, dsn)
			if db.dialect == push.SQLite {
				pool.SetMaxOpenConns(1) // as push.SQLite advises
			}
			senders = append(senders, newSender(t, hs, push.WithDeduper(newDeduper(t, pool, db.dialect))))
		}
		for i, p := range []struct {
			env midas.Env
			no  string
		}{
			{midas.Sandbox, "X"}, {midas.Sandbox, "X"}, {midas.Production, "X"},
			{midas.Production, "X"}, {midas.Production, "Y"}, {midas.Sandbox, "Y"},
		} {
			if code, body := senders[i%2].item(t, p.env, p.no); code != 200 || !strings.Contains(body, `"ErrCode":0`) {
				t.Fatalf("push %d answered %d %s", i, code, body)
			}
		}
		want := map[string]int{"0/X": 1, "1/X": 1, "0/Y": 1, "1/Y": 1}
		if fmt.Sprint(delivered) != fmt.Sprint(want) {
			t.Fatalf("delivered %v, want %v", delivered, want)
		}

		// Concurrent copies: one claims, the others are answered with a
		// failure while it runs and retried, as WeChat does, until success.
		const orders, copies = 30, 3
		var wg sync.WaitGroup
		errs := make(chan string, orders*copies)
		for o := 0; o < orders; o++ {
			for c := 0; c < copies; c++ {
				wg.Add(1)
				go func(s *sender, no string) {
					defer wg.Done()
					for try := 0; ; try++ {
						code, body := s.item(t, midas.Production, no)
						if code == 200 {
							return
						}
						if try == 100 {
							errs <- fmt.Sprintf("%s still answered %d %s", no, code, body)
							return
						}
						time.Sleep(10 * time.Millisecond)
					}
				}(senders[(o+c)%2], fmt.Sprint("C-", o))
			}
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		for o := 0; o < orders; o++ {
			if n := delivered[fmt.Sprint("0/C-", o)]; n != 1 {
				t.Errorf("order C-%d delivered %d times", o, n)
			}
		}
	})
}

// Push test values: secrets of the test only.
const (
	pushToken      = "dbtest-token"
	pushAppID      = "wxdbtest000000001"
	pushAppKey     = "dbtest-prod-key"
	pushSandboxKey = "dbtest-sandbox-key"
)

// sender posts signed item pushes to a push handler, as WeChat does.
type sender struct{ h http.Handler }

func newSender(t *testing.T, hs push.Handlers, opts ...push.Option) *sender {
	t.Helper()
	h, err := push.NewHandler(push.Config{Token: pushToken, AppID: pushAppID, AppKey: pushAppKey, SandboxAppKey: pushSandboxKey}, hs, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return &sender{h}
}

// item posts the item delivery push of order no in env and returns the answer.
func (s *sender) item(t *testing.T, env midas.Env, no string) (int, string) {
	t.Helper()
	key := pushAppKey
	if env == midas.Sandbox {
		key = pushSandboxKey
	}
	event := push.EventGamePayGoodsDeliver
	payload := fmt.Sprintf(`{"OpenId":"o_buyer","OutTradeNo":%q,"Env":%d,"GoodsInfo":{"ProductId":"gems","Quantity":1,"ZoneId":"1","OrigPrice":1,"ActualPrice":1,"OrderSource":1}}`, no, env)
	body, err := json.Marshal(map[string]any{
		"ToUserName": "gh_dbtest", "FromUserName": "o_wechat", "CreateTime": 1714037059, "MsgType": "event", "Event": event,
		"MiniGame": map[string]any{"Payload": payload, "PayEventSig": midas.PaySig(event, []byte(payload), key)},
	})
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"timestamp": {"1714037059"}, "nonce": {"42"}}
	q.Set("signature", push.URLSignature(pushToken, q.Get("timestamp"), q.Get("nonce")))
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/push?"+q.Encode(), bytes.NewReader(body)))
	return rec.Code, rec.Body.String()
}

// One server instance (one SQLDeduper): a delivery that hangs past its lease
// and then fails must not let a retry deliver while the delivery that took
// the key over is still running. Each push is the same paid order.
func TestSQLDeduperLateFailureInOneInstanceDoesNotDeliverTwice(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, db database, driver, dsn string) {
		clk := newClock()
		d := newDeduper(t, dbtest.Open(t, driver, dsn), db.dialect, push.WithClock(clk.Now), push.WithLease(lease))
		var entered, grants atomic.Int32
		first, second := make(chan struct{}), make(chan struct{})
		s := newSender(t, push.Handlers{ItemDelivered: func(context.Context, *push.ItemDelivery) error {
			switch entered.Add(1) {
			case 1:
				<-first
				return errors.New("store timed out") // failed late: WeChat retries
			case 2:
				<-second
			}
			grants.Add(1)
			return nil
		}}, push.WithDeduper(d), push.WithHandlerTimeout(time.Minute))

		answered1, answered2 := make(chan int), make(chan int)
		go func() { code, _ := s.item(t, midas.Production, "LATE-1"); answered1 <- code }()
		for entered.Load() < 1 {
			time.Sleep(time.Millisecond)
		}
		clk.Advance(lease) // the first delivery overran its lease
		go func() { code, _ := s.item(t, midas.Production, "LATE-1"); answered2 <- code }()
		for entered.Load() < 2 {
			time.Sleep(time.Millisecond)
		}
		close(first)
		if code := <-answered1; code != http.StatusInternalServerError {
			t.Fatalf("failed delivery answered %d", code)
		}
		s.item(t, midas.Production, "LATE-1") // a retry while the second delivery still runs
		close(second)
		if code := <-answered2; code != http.StatusOK {
			t.Fatalf("second delivery answered %d", code)
		}
		if n := grants.Load(); n != 1 {
			t.Fatalf("one paid order granted %d times", n)
		}
	})
}

// WithLease accepts any positive duration, and rows hold Unix milliseconds:
// a lease under a millisecond must not be stored as already expired, or a
// second caller claims the key at the same instant as the first.
func TestSQLDeduperSubMillisecondLeaseExcludesASecondHolder(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, db database, driver, dsn string) {
		clk := newClock() // on a whole millisecond
		opts := []push.DeduperOption{push.WithClock(clk.Now), push.WithLease(500 * time.Microsecond)}
		a := newDeduper(t, dbtest.Open(t, driver, dsn), db.dialect, opts...)
		b := newDeduper(t, dbtest.Open(t, driver, dsn), db.dialect, opts...)
		wantBegin(t, a, "k", "claimed")
		wantBegin(t, b, "k", "in progress") // same instant: a's lease has not ended
	})
}

// Rows hold whole milliseconds: a lease's end is rounded up, so a lease
// taken between two milliseconds lasts at least as long as asked (and less
// than 1 ms longer), never less.
func TestSQLDeduperLeaseIsNeverCutShort(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, db database, driver, dsn string) {
		clk := newClock()
		clk.Advance(900 * time.Microsecond) // claimed at ms 0.9, the lease ends at 2.4
		opts := []push.DeduperOption{push.WithClock(clk.Now), push.WithLease(1500 * time.Microsecond)}
		a := newDeduper(t, dbtest.Open(t, driver, dsn), db.dialect, opts...)
		b := newDeduper(t, dbtest.Open(t, driver, dsn), db.dialect, opts...)
		wantBegin(t, a, "k", "claimed")
		clk.Advance(1400 * time.Microsecond) // ms 2.3: 0.1 ms of the lease left
		wantBegin(t, b, "k", "in progress")
		clk.Advance(700 * time.Microsecond) // ms 3.0: the rounded-up end
		wantBegin(t, b, "k", "claimed")
	})
}
