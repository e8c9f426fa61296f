package itemshop

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	"modernc.org/sqlite"               // registers "sqlite" (pure Go: the example needs no C toolchain)

	"github.com/gomidas/midas"
)

// Dialect is the SQL flavour of a database.
type Dialect int

// The databases SQLStore runs on.
const (
	SQLite   Dialect = iota + 1 // modernc.org/sqlite, driver "sqlite"
	Postgres                    // pgx stdlib, driver "pgx"
	MySQL                       // go-sql-driver/mysql, driver "mysql": MySQL or MariaDB
)

func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "pgx"
	case MySQL:
		return "mysql"
	}
	return "Dialect(" + strconv.Itoa(int(d)) + ")"
}

// DialectOf returns the Dialect of a database/sql driver name.
func DialectOf(driver string) (Dialect, error) {
	switch driver {
	case "sqlite":
		return SQLite, nil
	case "pgx", "postgres":
		return Postgres, nil
	case "mysql":
		return MySQL, nil
	}
	return 0, fmt.Errorf("itemshop: unknown driver %q: want sqlite, pgx or mysql", driver)
}

// DriverOf guesses the driver from the form of a DSN:
// postgres://… or postgresql://… is PostgreSQL, user@tcp(host:port)/db is
// go-sql-driver/mysql's form, anything else is an SQLite file.
func DriverOf(dsn string) string {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return "pgx"
	case strings.Contains(dsn, "@tcp("), strings.Contains(dsn, "@unix("), strings.HasPrefix(dsn, "tcp("):
		return "mysql"
	}
	return "sqlite"
}

// SQLiteDSN makes an SQLite DSN usable by several connections and
// processes at once: WAL mode, a busy timeout, and BEGIN IMMEDIATE for every
// transaction. The last matters: a deferred SQLite transaction that reads
// and then writes fails (SQLITE_BUSY, without waiting) when another
// connection wrote in between; an immediate one takes the write lock first
// and waits for it. Parameters already in dsn are kept.
func SQLiteDSN(dsn string) string {
	path, query, _ := strings.Cut(dsn, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return dsn
	}
	pragmas := strings.Join(q["_pragma"], ",")
	if !strings.Contains(pragmas, "busy_timeout") {
		q.Add("_pragma", "busy_timeout(10000)")
	}
	if !strings.Contains(pragmas, "journal_mode") {
		q.Add("_pragma", "journal_mode(WAL)")
	}
	if q.Get("_txlock") == "" {
		q.Set("_txlock", "immediate")
	}
	if !strings.HasPrefix(path, "file:") {
		path = "file:" + path
	}
	return path + "?" + q.Encode()
}

// SQLStore is the Store on a SQL database: SQLite, PostgreSQL or
// MySQL/MariaDB. Any number of SQLStores, in any number of processes, may
// share one database.
//
// Exactly once rests on the database, not on the process: every state
// change is a conditional UPDATE on the order's (or spend's) row, such as
// "set delivered_at where delivered_at is null and refunded_at is null",
// and only the transaction whose UPDATE changed the row (affected rows = 1)
// grants; the grant itself goes under a unique key, so a second one could
// not be written anyway. That holds at each database's default isolation:
//
//   - PostgreSQL (READ COMMITTED): a concurrent UPDATE of the same row waits
//     for the first transaction and then re-checks its WHERE on the row as
//     committed, so the second finds delivered_at set and changes nothing;
//   - MySQL/MariaDB InnoDB (REPEATABLE READ): UPDATE reads the latest
//     committed row under an exclusive lock, not the transaction's snapshot,
//     with the same effect. Decisions are never taken on a plain SELECT,
//     which would read the snapshot;
//   - SQLite: one writer at a time; every transaction begins IMMEDIATE
//     (SQLiteDSN), so it holds the write lock before it reads.
//
// Deadlocks and serialization failures (possible on InnoDB's unique-key
// inserts) roll back and the transaction is retried a few times.
//
// The schema (created by NewSQLStore if missing; money in fen, times in
// Unix milliseconds, NULL for "not yet"):
//
//	itemshop_orders  (out_trade_no PK, openid, product_id, quantity, price, env,
//	                  from_push, created_at, delivered_at NULL, refunded_at NULL)
//	itemshop_refunds (refund_id PK, out_trade_no, amount, source, received_at)
//	itemshop_spends  (bill_no PK, openid, product_id, quantity, coins, state,
//	                  created_at, settled_at NULL, unclear_at)   index on state
//	itemshop_grants  (grant_id PK, openid, product_id, quantity,
//	                  granted_at, revoked_at NULL)               index on openid
//
// A database made before unclear_at existed gains the column on open,
// filled with created_at + the pay's timeout (what AddSpend now stores).
type SQLStore struct {
	db      *sql.DB
	dialect Dialect
	owned   bool // Close closes db
}

// OpenSQLStore opens the database dsn with driver ("" guesses it with
// DriverOf; SQLite DSNs go through SQLiteDSN) and returns its SQLStore,
// creating the schema if missing. Close closes the pool.
func OpenSQLStore(ctx context.Context, driver, dsn string) (*SQLStore, error) {
	if driver == "" {
		driver = DriverOf(dsn)
	}
	d, err := DialectOf(driver)
	if err != nil {
		return nil, err
	}
	if d == SQLite {
		dsn = SQLiteDSN(dsn)
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("itemshop: open %s: %w", driver, err)
	}
	s, err := NewSQLStore(ctx, db, d)
	if err != nil {
		db.Close()
		return nil, err
	}
	s.owned = true
	return s, nil
}

// NewSQLStore returns the SQLStore on db, creating the schema if missing.
// For SQLite, open db with a DSN from SQLiteDSN.
func NewSQLStore(ctx context.Context, db *sql.DB, d Dialect) (*SQLStore, error) {
	if _, err := DialectOf(d.String()); err != nil {
		return nil, err
	}
	s := &SQLStore{db: db, dialect: d}
	// Two instances starting together may race on CREATE TABLE IF NOT
	// EXISTS (PostgreSQL can then fail on its catalog's unique key): try
	// again, it is a no-op once the tables exist.
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = s.migrate(ctx); err == nil {
			return s, nil
		}
		time.Sleep(time.Duration(50*(attempt+1)) * time.Millisecond)
	}
	return nil, fmt.Errorf("itemshop: creating the schema: %w", err)
}

// DB returns the store's pool.
func (s *SQLStore) DB() *sql.DB { return s.db }

// Dialect returns the store's database flavour.
func (s *SQLStore) Dialect() Dialect { return s.dialect }

// Close closes the pool if OpenSQLStore opened it.
func (s *SQLStore) Close() error {
	if s.owned {
		return s.db.Close()
	}
	return nil
}

func (s *SQLStore) migrate(ctx context.Context) error {
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS itemshop_orders (
			out_trade_no VARCHAR(64) NOT NULL PRIMARY KEY,
			openid       VARCHAR(128) NOT NULL,
			product_id   VARCHAR(64) NOT NULL,
			quantity     BIGINT NOT NULL,
			price        BIGINT NOT NULL,
			env          INTEGER NOT NULL,
			from_push    INTEGER NOT NULL,
			created_at   BIGINT NOT NULL,
			delivered_at BIGINT NULL,
			refunded_at  BIGINT NULL)`,
		`CREATE TABLE IF NOT EXISTS itemshop_refunds (
			refund_id    VARCHAR(64) NOT NULL PRIMARY KEY,
			out_trade_no VARCHAR(64) NOT NULL,
			amount       BIGINT NOT NULL,
			source       INTEGER NOT NULL,
			received_at  BIGINT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS itemshop_spends (
			bill_no    VARCHAR(64) NOT NULL PRIMARY KEY,
			openid     VARCHAR(128) NOT NULL,
			product_id VARCHAR(64) NOT NULL,
			quantity   BIGINT NOT NULL,
			coins      BIGINT NOT NULL,
			state      VARCHAR(16) NOT NULL,
			created_at BIGINT NOT NULL,
			settled_at BIGINT NULL,
			unclear_at BIGINT NULL` + s.inlineIndex("itemshop_spends_state", "state") + `)`,
		`CREATE TABLE IF NOT EXISTS itemshop_grants (
			grant_id   VARCHAR(80) NOT NULL PRIMARY KEY,
			openid     VARCHAR(128) NOT NULL,
			product_id VARCHAR(64) NOT NULL,
			quantity   BIGINT NOT NULL,
			granted_at BIGINT NOT NULL,
			revoked_at BIGINT NULL` + s.inlineIndex("itemshop_grants_openid", "openid") + `)`,
	}
	if s.dialect != MySQL { // MySQL has no CREATE INDEX IF NOT EXISTS: its indexes are inline above
		stmts = append(stmts,
			`CREATE INDEX IF NOT EXISTS itemshop_spends_state ON itemshop_spends (state)`,
			`CREATE INDEX IF NOT EXISTS itemshop_grants_openid ON itemshop_grants (openid)`)
	}
	for _, q := range stmts {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return s.addUnclearAt(ctx)
}

// addUnclearAt upgrades a spends table made before unclear_at existed.
// SQLite and MySQL have no ADD COLUMN IF NOT EXISTS, so the column is
// probed; when two instances upgrade at once, the loser's ALTER fails and
// NewSQLStore's retry finds the column. The fill is idempotent.
func (s *SQLStore) addUnclearAt(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, "SELECT unclear_at FROM itemshop_spends WHERE 1 = 0")
	if err == nil {
		rows.Close()
	} else if _, err := s.db.ExecContext(ctx, "ALTER TABLE itemshop_spends ADD COLUMN unclear_at BIGINT NULL"); err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, s.q("UPDATE itemshop_spends SET unclear_at = created_at + ? WHERE unclear_at IS NULL"),
		payTimeout.Milliseconds())
	return err
}

func (s *SQLStore) inlineIndex(name, col string) string {
	if s.dialect != MySQL {
		return ""
	}
	return ",\n\t\t\tINDEX " + name + " (" + col + ")"
}

// q rewrites a query written with ? placeholders for the dialect
// (PostgreSQL numbers them: $1, $2, …).
func (s *SQLStore) q(query string) string {
	if s.dialect != Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// insertIfAbsent inserts a row into table unless its key exists, and
// reports whether it did.
//
// On MySQL it is a plain INSERT whose duplicate-key error (1062) means
// "exists": InnoDB rolls back only the statement, not the transaction. Not
// ON DUPLICATE KEY UPDATE, whose affected-rows count for an existing row is
// 0 or 1 depending on the DSN's clientFoundRows, so a duplicate would pass
// for an insert; not INSERT IGNORE, which would also turn other errors (a
// too-long value) into warnings.
func (s *SQLStore) insertIfAbsent(ctx context.Context, tx *sql.Tx, table, key, cols string, args ...any) (bool, error) {
	ph := strings.TrimSuffix(strings.Repeat("?, ", len(args)), ", ")
	q := "INSERT INTO " + table + " (" + cols + ") VALUES (" + ph + ")"
	if s.dialect != MySQL {
		q += " ON CONFLICT (" + key + ") DO NOTHING"
	}
	n, err := affected(tx.ExecContext(ctx, s.q(q), args...))
	var my *mysql.MySQLError
	if errors.As(err, &my) && my.Number == 1062 { // ER_DUP_ENTRY: the table's only unique key is key
		return false, nil
	}
	return n > 0, err
}

// maxTxAttempts bounds the retries of a transaction rolled back by a
// deadlock or serialization failure.
const maxTxAttempts = 8

// inTx runs f in a transaction and commits it, retrying the whole of it
// when the database rolled it back to break a deadlock (or could not get a
// lock in time). f must have no effect outside tx.
func (s *SQLStore) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := s.tryTx(ctx, f)
		if err == nil || attempt == maxTxAttempts || !retryable(err) || ctx.Err() != nil {
			return err
		}
		d := time.Duration(1+rand.IntN(5*attempt)) * time.Millisecond
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return err
		}
	}
}

func (s *SQLStore) tryTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// retryable reports a transaction the database rolled back for a conflict
// with another one, which succeeds when run again.
func retryable(err error) bool {
	var pg *pgconn.PgError
	var my *mysql.MySQLError
	var lite *sqlite.Error
	switch {
	case errors.As(err, &pg):
		return pg.Code == "40001" || pg.Code == "40P01" // serialization_failure, deadlock_detected
	case errors.As(err, &my):
		return my.Number == 1213 || my.Number == 1205 // deadlock, lock wait timeout
	case errors.As(err, &lite):
		return lite.Code()&0xff == 5 || lite.Code()&0xff == 6 // SQLITE_BUSY, SQLITE_LOCKED (with extended codes)
	}
	return false
}

func now() int64 { return time.Now().UnixMilli() }

// affected returns the rows a statement changed.
func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// AddOrder implements Store.
func (s *SQLStore) AddOrder(ctx context.Context, o Order) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		inserted, err := s.insertIfAbsent(ctx, tx, "itemshop_orders", "out_trade_no",
			"out_trade_no, openid, product_id, quantity, price, env, from_push, created_at",
			o.OutTradeNo, o.OpenID, o.ProductID, o.Quantity, o.Price, int(o.Env), boolInt(o.FromPush), now())
		if err == nil && !inserted {
			err = ErrDuplicateOrder
		}
		return err
	})
}

const orderCols = "out_trade_no, openid, product_id, quantity, price, env, from_push, delivered_at IS NOT NULL, refunded_at IS NOT NULL"

type scanner interface{ Scan(dest ...any) error }

func scanOrder(row scanner) (Order, error) {
	var o Order
	var env, fromPush int
	var delivered, refunded bool
	err := row.Scan(&o.OutTradeNo, &o.OpenID, &o.ProductID, &o.Quantity, &o.Price, &env, &fromPush, &delivered, &refunded)
	o.Env, o.FromPush, o.Delivered, o.Refunded = midas.Env(env), fromPush != 0, delivered, refunded
	return o, err
}

func (s *SQLStore) order(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, outTradeNo string) (*Order, error) {
	o, err := scanOrder(q.QueryRowContext(ctx, s.q("SELECT "+orderCols+" FROM itemshop_orders WHERE out_trade_no = ?"), outTradeNo))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &o, nil
}

// Deliver implements Store.
func (s *SQLStore) Deliver(ctx context.Context, paid Order, check func(stored *Order) error) (DeliverResult, error) {
	var result DeliverResult
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		stored, err := s.order(ctx, tx, paid.OutTradeNo)
		if err != nil {
			return err
		}
		switch {
		case stored != nil && stored.Refunded:
			result = RefundedFirst
			return nil
		case stored != nil && stored.Delivered:
			result = AlreadyDelivered
			return nil
		}
		// The SELECT above only serves check and the fast paths: on InnoDB
		// it reads a snapshot. The UPDATE below decides.
		if err := check(stored); err != nil {
			return err
		}
		o := paid
		if stored == nil {
			// Record the order as the push says it. Another push of it may
			// be doing the same: the key lets one insert, and the UPDATE
			// below lets one deliver.
			o.FromPush = true
			if _, err := s.insertIfAbsent(ctx, tx, "itemshop_orders", "out_trade_no",
				"out_trade_no, openid, product_id, quantity, price, env, from_push, created_at",
				o.OutTradeNo, o.OpenID, o.ProductID, o.Quantity, o.Price, int(o.Env), 1, now()); err != nil {
				return err
			}
		} else {
			o = *stored
		}
		n, err := affected(tx.ExecContext(ctx, s.q(`UPDATE itemshop_orders SET delivered_at = ?
			WHERE out_trade_no = ? AND delivered_at IS NULL AND refunded_at IS NULL`), now(), o.OutTradeNo))
		if err != nil {
			return err
		}
		if n == 0 {
			// Another transaction delivered or refunded it since the
			// SELECT: read what it did (this UPDATE's lock makes the row
			// current on every database).
			var refunded bool
			if err := tx.QueryRowContext(ctx, s.q(`SELECT refunded_at IS NOT NULL FROM itemshop_orders WHERE out_trade_no = ?`+s.forUpdate()),
				o.OutTradeNo).Scan(&refunded); err != nil {
				return err
			}
			result = AlreadyDelivered
			if refunded {
				result = RefundedFirst
			}
			return nil
		}
		result = Granted
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO itemshop_grants (grant_id, openid, product_id, quantity, granted_at)
			VALUES (?, ?, ?, ?, ?)`), "order:"+o.OutTradeNo, o.OpenID, o.ProductID, o.Quantity, now())
		return err
	})
	if err != nil {
		return 0, err
	}
	return result, nil
}

// forUpdate makes a SELECT a locking read where that exists, so that it sees
// the latest committed row rather than InnoDB's snapshot.
func (s *SQLStore) forUpdate() string {
	if s.dialect == SQLite {
		return "" // the transaction already holds the only write lock
	}
	return " FOR UPDATE"
}

// Refund implements Store.
func (s *SQLStore) Refund(ctx context.Context, r Refund) (RefundResult, error) {
	var result RefundResult
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		inserted, err := s.insertIfAbsent(ctx, tx, "itemshop_refunds", "refund_id",
			"refund_id, out_trade_no, amount, source, received_at",
			r.RefundID, r.OutTradeNo, r.Amount, r.Source, now())
		if err != nil {
			return err
		}
		if !inserted {
			result = RefundRepeat
			return nil
		}
		// An order the shop never saw is recorded, refunded, so that its
		// delivery push, if it comes later, grants nothing.
		if _, err := s.insertIfAbsent(ctx, tx, "itemshop_orders", "out_trade_no",
			"out_trade_no, openid, product_id, quantity, price, env, from_push, created_at",
			r.OutTradeNo, r.OpenID, "", 0, 0, 0, 1, now()); err != nil {
			return err
		}
		n, err := affected(tx.ExecContext(ctx, s.q(`UPDATE itemshop_orders SET refunded_at = ?
			WHERE out_trade_no = ? AND refunded_at IS NULL`), now(), r.OutTradeNo))
		if err != nil {
			return err
		}
		if n == 0 {
			result = RefundAgain
			return nil
		}
		// The row is now locked by this transaction: a delivery either
		// committed before (its grant is visible to this UPDATE, which reads
		// the latest rows) or will find refunded_at set and grant nothing.
		n, err = affected(tx.ExecContext(ctx, s.q(`UPDATE itemshop_grants SET revoked_at = ?
			WHERE grant_id = ? AND revoked_at IS NULL`), now(), "order:"+r.OutTradeNo))
		if err != nil {
			return err
		}
		result = RefundBeforeDelivery
		if n > 0 {
			result = RefundRevoked
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return result, nil
}

// Order implements Store.
func (s *SQLStore) Order(ctx context.Context, outTradeNo string) (Order, bool, error) {
	o, err := s.order(ctx, s.db, outTradeNo)
	if err != nil || o == nil {
		return Order{}, false, err
	}
	return *o, true, nil
}

// Inventory implements Store.
func (s *SQLStore) Inventory(ctx context.Context, openID string) (map[string]int64, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT product_id, SUM(quantity) FROM itemshop_grants
		WHERE openid = ? AND revoked_at IS NULL GROUP BY product_id`), openID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	inv := map[string]int64{}
	for rows.Next() {
		var product string
		var n int64
		if err := rows.Scan(&product, &n); err != nil {
			return nil, err
		}
		inv[product] = n
	}
	return inv, rows.Err()
}

// AddSpend implements Store.
func (s *SQLStore) AddSpend(ctx context.Context, sp Spend) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		created := now()
		if !sp.CreatedAt.IsZero() {
			created = sp.CreatedAt.UnixMilli()
		}
		unclear := created
		if !sp.UnclearAt.IsZero() {
			unclear = sp.UnclearAt.UnixMilli()
		}
		inserted, err := s.insertIfAbsent(ctx, tx, "itemshop_spends", "bill_no",
			"bill_no, openid, product_id, quantity, coins, state, created_at, unclear_at",
			sp.BillNo, sp.OpenID, sp.ProductID, sp.Quantity, sp.Coins, string(SpendPending), created, unclear)
		if err == nil && !inserted {
			err = ErrDuplicateOrder
		}
		return err
	})
}

// ExtendUnclear implements Store.
func (s *SQLStore) ExtendUnclear(ctx context.Context, billNo string, until time.Time) (time.Time, time.Time, bool, error) {
	var prior, raised int64
	var ok bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// A locking read: the value raised is the latest committed one,
		// not InnoDB's snapshot.
		err := tx.QueryRowContext(ctx, s.q(`SELECT unclear_at FROM itemshop_spends WHERE bill_no = ? AND state = ?`+s.forUpdate()),
			billNo, string(SpendPending)).Scan(&prior)
		if errors.Is(err, sql.ErrNoRows) {
			ok = false
			return nil
		}
		if err != nil {
			return err
		}
		ok, raised = true, max(until.UnixMilli(), prior+1)
		_, err = tx.ExecContext(ctx, s.q(`UPDATE itemshop_spends SET unclear_at = ? WHERE bill_no = ? AND state = ?`),
			raised, billNo, string(SpendPending))
		return err
	})
	if err != nil || !ok {
		return time.Time{}, time.Time{}, false, err
	}
	return time.UnixMilli(prior), time.UnixMilli(raised), true, nil
}

// RestoreUnclear implements Store.
func (s *SQLStore) RestoreUnclear(ctx context.Context, billNo string, raised, prior time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE itemshop_spends SET unclear_at = ?
		WHERE bill_no = ? AND state = ? AND unclear_at = ?`), prior.UnixMilli(), billNo, string(SpendPending), raised.UnixMilli())
	return err
}

// FinishSpend implements Store.
func (s *SQLStore) FinishSpend(ctx context.Context, billNo string, paid bool, unclearAtMost time.Time) (bool, error) {
	state := SpendFailed
	if paid {
		state = SpendPaid
	}
	q, args := `UPDATE itemshop_spends SET state = ?, settled_at = ? WHERE bill_no = ? AND state = ?`,
		[]any{string(state), now(), billNo, string(SpendPending)}
	if !unclearAtMost.IsZero() {
		q, args = q+" AND unclear_at <= ?", append(args, unclearAtMost.UnixMilli())
	}
	var changed bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		n, err := affected(tx.ExecContext(ctx, s.q(q), args...))
		if err != nil {
			return err
		}
		changed = n == 1
		if !changed || !paid {
			return nil
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO itemshop_grants (grant_id, openid, product_id, quantity, granted_at)
			SELECT ?, openid, product_id, quantity, ? FROM itemshop_spends WHERE bill_no = ?`), "spend:"+billNo, now(), billNo)
		return err
	})
	return changed, err
}

const spendCols = "bill_no, openid, product_id, quantity, coins, state, created_at, unclear_at"

func scanSpend(row scanner) (Spend, error) {
	var sp Spend
	var state string
	var created, unclear int64
	err := row.Scan(&sp.BillNo, &sp.OpenID, &sp.ProductID, &sp.Quantity, &sp.Coins, &state, &created, &unclear)
	sp.State, sp.CreatedAt, sp.UnclearAt = SpendState(state), time.UnixMilli(created), time.UnixMilli(unclear)
	return sp, err
}

// Spend implements Store.
func (s *SQLStore) Spend(ctx context.Context, billNo string) (Spend, bool, error) {
	sp, err := scanSpend(s.db.QueryRowContext(ctx, s.q("SELECT "+spendCols+" FROM itemshop_spends WHERE bill_no = ?"), billNo))
	if errors.Is(err, sql.ErrNoRows) {
		return Spend{}, false, nil
	}
	return sp, err == nil, err
}

// PendingSpends implements Store.
func (s *SQLStore) PendingSpends(ctx context.Context, openID string) ([]Spend, error) {
	q, args := "SELECT "+spendCols+" FROM itemshop_spends WHERE state = ?", []any{string(SpendPending)}
	if openID != "" {
		q, args = q+" AND openid = ?", append(args, openID)
	}
	rows, err := s.db.QueryContext(ctx, s.q(q+" ORDER BY created_at, bill_no"), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Spend
	for rows.Next() {
		sp, err := scanSpend(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, sp)
	}
	return out, rows.Err()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
