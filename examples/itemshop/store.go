package itemshop

import (
	"context"
	"errors"
	"maps"
	"sync"

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
	Delivered  bool      // the items were granted
	// FromPush marks an order first heard of in a verified push, not made by
	// POST /order: a store (商城) purchase, or an order whose record was
	// lost. See Server for why it is delivered anyway.
	FromPush bool
}

// ErrDuplicateOrder is AddOrder's error for an OutTradeNo already recorded.
var ErrDuplicateOrder = errors.New("itemshop: an order with this OutTradeNo exists")

// Store keeps orders and inventories. Each method is one transaction. A real
// server implements it over its database, with OutTradeNo as a unique key;
// MemStore is the in-memory one.
type Store interface {
	// AddOrder records o, pending. An existing OutTradeNo is
	// ErrDuplicateOrder.
	AddOrder(ctx context.Context, o Order) error
	// Deliver delivers paid once, in one transaction: when the order
	// paid.OutTradeNo is already delivered, it changes nothing and reports
	// false. Otherwise it calls check with the stored order (nil when there
	// is none); an error from check is returned and changes nothing. Then it
	// marks the order delivered (recording paid, with FromPush set, when
	// there was none) and adds paid.Quantity of paid.ProductID to
	// paid.OpenID's inventory, and reports true.
	Deliver(ctx context.Context, paid Order, check func(stored *Order) error) (granted bool, err error)
	// Order returns the order recorded under outTradeNo.
	Order(ctx context.Context, outTradeNo string) (o Order, ok bool, err error)
	// Inventory returns what openID owns: product id → quantity.
	Inventory(ctx context.Context, openID string) (map[string]int64, error)
}

// MemStore is a Store in memory, safe for concurrent use. Its mutex stands
// for a database transaction and its map key for a unique key on
// OutTradeNo: together they make "is it delivered? then grant and mark it"
// one step, so two concurrent pushes of one order cannot both grant. It
// forgets everything on restart and is per process: use a database in
// production.
type MemStore struct {
	mu        sync.Mutex
	orders    map[string]*Order           // OutTradeNo → order
	inventory map[string]map[string]int64 // OpenID → product → quantity
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{orders: map[string]*Order{}, inventory: map[string]map[string]int64{}}
}

// AddOrder implements Store.
func (m *MemStore) AddOrder(ctx context.Context, o Order) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, ok := m.orders[o.OutTradeNo]; ok {
		return ErrDuplicateOrder
	}
	o.Delivered = false
	m.orders[o.OutTradeNo] = &o
	return nil
}

// Deliver implements Store.
func (m *MemStore) Deliver(ctx context.Context, paid Order, check func(stored *Order) error) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return false, err // too late to answer WeChat: let it retry
	}
	stored, ok := m.orders[paid.OutTradeNo]
	if ok && stored.Delivered {
		return false, nil // a repeat: nothing to do
	}
	var current *Order
	if ok {
		c := *stored
		current = &c
	}
	if err := check(current); err != nil {
		return false, err
	}
	if !ok {
		paid.FromPush = true
		stored = &paid
		m.orders[paid.OutTradeNo] = stored
	}
	stored.Delivered = true
	inv := m.inventory[paid.OpenID]
	if inv == nil {
		inv = map[string]int64{}
		m.inventory[paid.OpenID] = inv
	}
	inv[paid.ProductID] += paid.Quantity
	return true, nil
}

// Order implements Store.
func (m *MemStore) Order(_ context.Context, outTradeNo string) (Order, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.orders[outTradeNo]
	if !ok {
		return Order{}, false, nil
	}
	return *o, true, nil
}

// Inventory implements Store.
func (m *MemStore) Inventory(_ context.Context, openID string) (map[string]int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.inventory[openID]), nil
}
