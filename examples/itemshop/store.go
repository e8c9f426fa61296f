package itemshop

import (
	"context"
	"errors"
	"time"

	"github.com/gomidas/midas"
)

// Order is an item order as the shop records it.
type Order struct {
	OutTradeNo string    // the order's id: the unique key of delivery
	OpenID     string    // the buyer
	ProductID  string    // the item
	Quantity   int64     // how many
	Price      int64     // unit price in fen, as signed
	Env        midas.Env // where it is paid: the signing client's Env
	Delivered  bool      // the items were granted (and stay recorded so after a refund)
	// Refunded marks an order WeChat refunded. A refunded order is never
	// delivered again; if it was delivered, its items were revoked.
	Refunded bool
	// FromPush marks an order first heard of in a verified push, not made by
	// POST /order: a store (商城) purchase, an order whose record was lost,
	// or a refund that came before any delivery push. See Server for why it
	// is delivered anyway.
	FromPush bool
}

// DeliverResult is what Store.Deliver did.
type DeliverResult int

const (
	// Granted: the items were granted and the order marked delivered now.
	Granted DeliverResult = iota + 1
	// AlreadyDelivered: an earlier push (or Reconcile) delivered it.
	AlreadyDelivered
	// RefundedFirst: the order was refunded before it was delivered, so it
	// never will be.
	RefundedFirst
)

// Refund is a completed refund as the shop records it.
type Refund struct {
	RefundID   string // WeChat's id of the refund: the unique key of a refund push
	OutTradeNo string // the refunded order
	OpenID     string // the player, when the push carries it
	Amount     int64  // fen
	Source     int    // push.RefundSource*
}

// RefundResult is what Store.Refund did.
type RefundResult int

const (
	// RefundRepeat: this RefundID was recorded before; nothing changed.
	RefundRepeat RefundResult = iota + 1
	// RefundRevoked: the order was delivered; it is now refunded and the
	// items it granted are revoked.
	RefundRevoked
	// RefundBeforeDelivery: the order was not delivered (pending, or not
	// known to the shop at all); it is now refunded and will never be
	// delivered.
	RefundBeforeDelivery
	// RefundAgain: another refund of an order already refunded (a second
	// partial refund): recorded, nothing else changes.
	RefundAgain
)

// SpendState is where a coin spend stands.
type SpendState string

const (
	// SpendPending: the bill_no is recorded and Pay may have been sent; its
	// outcome is not known yet. It is settled with SettlePay.
	SpendPending SpendState = "pending"
	// SpendPaid: the coins were deducted (once) and the items granted.
	SpendPaid SpendState = "paid"
	// SpendFailed: Midas definitely deducted nothing; nothing was granted.
	SpendFailed SpendState = "failed"
)

// Spend is a purchase paid with the player's game coins (Pay).
type Spend struct {
	BillNo    string // Pay's bill_no: the idempotency key at Midas and here
	OpenID    string // the player
	ProductID string // the item bought
	Quantity  int64  // how many
	Coins     int64  // the coins deducted (Pay's amount)
	State     SpendState
	CreatedAt time.Time // when it was recorded, just before Pay was sent
	// UnclearAt bounds when the last call for this spend that may still be
	// in flight (its outcome unknown, or not known yet) sent its last
	// attempt: the pay's, then every settle's. midas.LateLandingWindow runs
	// from it: only a settle begun a window after it can trust a refusal.
	UnclearAt time.Time
}

// ErrDuplicateOrder is AddOrder's (and AddSpend's) error for an id already
// recorded.
var ErrDuplicateOrder = errors.New("itemshop: an order with this id exists")

// Store keeps orders, refunds, coin spends and inventories. Each method is
// one transaction. SQLStore is the implementation (SQLite, PostgreSQL,
// MySQL/MariaDB); the interface lets tests wrap it to inject failures.
//
// Inventories are a ledger of grants, one per delivered order or paid
// spend, under a unique key ("order:"+OutTradeNo, "spend:"+BillNo): a
// second grant for the same order cannot even be written.
type Store interface {
	// AddOrder records o, pending. An existing OutTradeNo is
	// ErrDuplicateOrder.
	AddOrder(ctx context.Context, o Order) error
	// Deliver delivers paid once, in one transaction. When the order
	// paid.OutTradeNo is already delivered it reports AlreadyDelivered, when
	// it was refunded RefundedFirst, and changes nothing. Otherwise it calls
	// check with the stored order (nil when there is none); an error from
	// check is returned and changes nothing. Then it marks the order
	// delivered (recording paid, with FromPush set, when there was none),
	// grants paid.Quantity of paid.ProductID to paid.OpenID, and reports
	// Granted.
	Deliver(ctx context.Context, paid Order, check func(stored *Order) error) (DeliverResult, error)
	// Refund records r once per RefundID and marks its order refunded (an
	// unknown order is recorded as refunded, so a late delivery push
	// grants nothing); if the order was delivered, it revokes the items.
	Refund(ctx context.Context, r Refund) (RefundResult, error)
	// Order returns the order recorded under outTradeNo.
	Order(ctx context.Context, outTradeNo string) (o Order, ok bool, err error)
	// Inventory returns what openID owns: product id → quantity, counting
	// the grants that were not revoked.
	Inventory(ctx context.Context, openID string) (map[string]int64, error)

	// AddSpend records sp as pending, before Pay is called, created at
	// sp.CreatedAt (zero: now) and unclear until sp.UnclearAt (zero: the
	// creation time). An existing BillNo is ErrDuplicateOrder.
	AddSpend(ctx context.Context, sp Spend) error
	// ExtendUnclear raises the pending spend billNo's UnclearAt to until,
	// or to 1 ms past its value when that is not earlier, and returns the
	// value it had before and the one it set. Every call sets a value of
	// its own, so that RestoreUnclear undoes only that call's raise. ok is
	// false when the spend is not pending (or not recorded), which changes
	// nothing.
	ExtendUnclear(ctx context.Context, billNo string, until time.Time) (prior, raised time.Time, ok bool, err error)
	// RestoreUnclear sets the pending spend billNo's UnclearAt back to prior
	// if it still is raised: the value an ExtendUnclear set. When another
	// call raised it since, it changes nothing.
	RestoreUnclear(ctx context.Context, billNo string, raised, prior time.Time) error
	// FinishSpend records the outcome of the pending spend billNo: paid
	// grants its items and marks it SpendPaid, !paid marks it SpendFailed,
	// and only if its UnclearAt is not after unclearAtMost (zero: whatever
	// it is), so that a refusal is not recorded while a call raised it
	// meanwhile may still land. It reports whether this call changed it:
	// false when it was no longer pending (another instance settled it
	// first) or was unclear too late, which changes nothing.
	FinishSpend(ctx context.Context, billNo string, paid bool, unclearAtMost time.Time) (changed bool, err error)
	// Spend returns the spend recorded under billNo.
	Spend(ctx context.Context, billNo string) (sp Spend, ok bool, err error)
	// PendingSpends returns the pending spends, oldest first: of openID, or
	// of every player when openID is "".
	PendingSpends(ctx context.Context, openID string) ([]Spend, error)
}
