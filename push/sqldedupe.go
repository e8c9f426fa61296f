package push

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Dialect is the SQL dialect of the database behind an [SQLDeduper]: the
// statements differ (upserts, placeholders, types).
type Dialect int

// The supported dialects.
const (
	// PostgreSQL 9.5 or later (INSERT ... ON CONFLICT), e.g. with the pgx
	// driver's database/sql adapter.
	PostgreSQL Dialect = iota + 1
	// MySQL 5.7 or later and MariaDB 10.3 or later (INSERT ... ON DUPLICATE
	// KEY UPDATE), e.g. with github.com/go-sql-driver/mysql.
	MySQL
	// SQLite 3.24 or later (INSERT ... ON CONFLICT), e.g. with
	// modernc.org/sqlite. SQLite lets one connection write at a time: set a
	// busy timeout in the DSN so that writers wait for the lock instead of
	// failing, and keep the pool small (db.SetMaxOpenConns(1) in each
	// process is best), since many connections polling for the lock can
	// starve one past the handler's deadline.
	SQLite
)

// String is the dialect's name.
func (d Dialect) String() string {
	switch d {
	case PostgreSQL:
		return "PostgreSQL"
	case MySQL:
		return "MySQL"
	case SQLite:
		return "SQLite"
	}
	return "Dialect(" + strconv.Itoa(int(d)) + ")"
}

// DefaultTable is the table an [SQLDeduper] uses unless [WithTable] names
// another.
const DefaultTable = "push_dedup"

// tableName is a plain identifier: no quoting is needed in any dialect, and
// the index name derived from it stays within PostgreSQL's 63 bytes.
var tableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,49}$`)

// WithTable sets the table of an [SQLDeduper]: letters, digits and
// underscores, not starting with a digit, at most 50 characters, and not a
// reserved word of the dialect (it is not quoted). The index is named after
// it with "_expires_at" appended. The default is [DefaultTable].
func WithTable(name string) DeduperOption {
	return func(s *dedupSettings) {
		if !tableName.MatchString(name) {
			s.fail(errors.New("push: WithTable needs letters, digits and underscores, at most 50, not starting with a digit"))
			return
		}
		s.table = name
	}
}

// SQLDeduper is a [Deduper] in a SQL database shared by every server
// instance: the one to use in production with several instances, restarts
// and deploys. It uses database/sql only; the caller opens the *sql.DB with
// the driver of its choice and names the [Dialect].
//
// # Schema
//
// One table (see [SQLDeduper.Schema]; [SQLDeduper.CreateTable] creates it if
// missing). In PostgreSQL and SQLite, for the default name:
//
//	CREATE TABLE IF NOT EXISTS push_dedup (
//		dedup_key  VARCHAR(128) NOT NULL PRIMARY KEY, -- a Deduper key (MaxKeyLen)
//		done       SMALLINT     NOT NULL,             -- 0 claimed, 1 done
//		owner      VARCHAR(64)  NOT NULL,             -- the claim's token
//		expires_at BIGINT       NOT NULL              -- Unix ms: lease end, or when a done key is forgotten
//	);
//	CREATE INDEX IF NOT EXISTS push_dedup_expires_at ON push_dedup (expires_at);
//
// In MySQL and MariaDB the key and owner are VARBINARY, so keys compare byte
// by byte (a case-insensitive collation would merge keys), and the index is
// declared inside CREATE TABLE.
//
// # Semantics
//
// Begin claims a key with one atomic statement: it inserts a claim row, or
// takes over an existing row whose expires_at has passed (an expired lease,
// or a done key past its TTL); two instances racing on a key cannot both
// win. Whether the claim was won is read from the affected row count
// (PostgreSQL, SQLite) or from the row's token read back (MySQL, whose
// count depends on the driver's clientFoundRows setting); there is no
// read-then-write. If the key is claimed and unexpired Begin returns [ErrInProgress] at
// once (the push is answered with a failure and retried by WeChat); if it is
// done and unexpired Begin reports done. Done marks the key done for the TTL
// (default [DefaultDoneTTL]). Each claim row carries a token of its own, and
// a release deletes the row only while it still carries the releasing
// claim's token, so a claim taken over after a lease ended is left alone.
// [SQLDeduper.BeginClaim], which the handler uses, returns the claim with its
// token; Release by key drops this instance's latest claim on the key.
//
// Rows expire but are deleted only by [SQLDeduper.Purge]: run it
// periodically (e.g. hourly) to keep the table at about one TTL of keys.
//
// # Time
//
// Leases and TTLs are measured with the clock of the process ([WithClock],
// default time.Now) and stored as Unix milliseconds, the same in every
// dialect. A lease's or TTL's end is rounded up to the next millisecond, so
// that none is cut short, and a lease under 1 ms is not stored as already
// over. The server instances' clocks must agree (NTP) to well within the
// lease; a skew of s makes a dead instance's lease last up to s longer or
// shorter.
type SQLDeduper struct {
	db      *sql.DB
	dialect Dialect
	table   string
	lease   time.Duration
	ttl     time.Duration
	now     func() time.Time
	q       sqlQueries

	instance string        // random, distinguishes this SQLDeduper's tokens
	seq      atomic.Uint64 // numbers its claims
	mu       sync.Mutex
	held     map[string]string // key -> token of the latest claim Begin took, for Done and Release by key
}

// sqlQueries are the statements of a dialect and table.
type sqlQueries struct {
	schema  []string
	claim   string // args: key, token, lease end, now (MySQL: see queriesFor)
	read    string // args: key; returns done, owner, expires_at
	done    string // args: key, token, TTL end (MySQL: see queriesFor)
	release string // args: key, token
	purge   string // args: now
}

// NewSQLDeduper returns an SQLDeduper on db, which speaks dialect. Options:
// [WithTable], [WithLease], [WithDoneTTL], [WithClock]. It does not touch
// the database; call [SQLDeduper.CreateTable] (or apply
// [SQLDeduper.Schema] with your migrations) before use.
func NewSQLDeduper(db *sql.DB, dialect Dialect, opts ...DeduperOption) (*SQLDeduper, error) {
	if db == nil {
		return nil, errors.New("push: NewSQLDeduper needs a *sql.DB")
	}
	s := dedupOptions(opts)
	if s.err != nil {
		return nil, s.err
	}
	q, err := queriesFor(dialect, s.table)
	if err != nil {
		return nil, err
	}
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("push: NewSQLDeduper: %w", err)
	}
	return &SQLDeduper{db: db, dialect: dialect, table: s.table, lease: s.lease, ttl: s.ttl, now: s.now,
		q: q, instance: hex.EncodeToString(id[:]), held: map[string]string{}}, nil
}

func queriesFor(d Dialect, t string) (sqlQueries, error) {
	idx := t + "_expires_at"
	switch d {
	case PostgreSQL, SQLite:
		q := sqlQueries{
			schema: []string{
				"CREATE TABLE IF NOT EXISTS " + t + " (\n" +
					"\tdedup_key  VARCHAR(128) NOT NULL PRIMARY KEY,\n" +
					"\tdone       SMALLINT     NOT NULL,\n" +
					"\towner      VARCHAR(64)  NOT NULL,\n" +
					"\texpires_at BIGINT       NOT NULL\n)",
				"CREATE INDEX IF NOT EXISTS " + idx + " ON " + t + " (expires_at)",
			},
			// Takes the key if there is no row, or if its row has expired;
			// one row affected means the claim is ours.
			claim: "INSERT INTO " + t + " (dedup_key, done, owner, expires_at) VALUES ($1, 0, $2, $3)" +
				" ON CONFLICT (dedup_key) DO UPDATE SET done = 0, owner = excluded.owner, expires_at = excluded.expires_at" +
				" WHERE " + t + ".expires_at <= $4",
			read: "SELECT done, owner, expires_at FROM " + t + " WHERE dedup_key = $1",
			done: "INSERT INTO " + t + " (dedup_key, done, owner, expires_at) VALUES ($1, 1, $2, $3)" +
				" ON CONFLICT (dedup_key) DO UPDATE SET done = 1, owner = excluded.owner, expires_at = excluded.expires_at",
			release: "DELETE FROM " + t + " WHERE dedup_key = $1 AND done = 0 AND owner = $2",
			purge:   "DELETE FROM " + t + " WHERE expires_at <= $1",
		}
		if d == SQLite { // SQLite reads $N too, but ?N is its documented form
			q = q.replace("$", "?")
		}
		return q, nil
	case MySQL:
		return sqlQueries{
			schema: []string{
				"CREATE TABLE IF NOT EXISTS " + t + " (\n" +
					"\tdedup_key  VARBINARY(128) NOT NULL PRIMARY KEY,\n" +
					"\tdone       SMALLINT       NOT NULL,\n" +
					"\towner      VARBINARY(64)  NOT NULL,\n" +
					"\texpires_at BIGINT         NOT NULL,\n" +
					"\tINDEX " + idx + " (expires_at)\n)",
			},
			// MySQL has no conditional upsert: each column keeps its value
			// unless the row has expired. Assignments run left to right, so
			// expires_at, which the conditions read, is set last. Whether the
			// claim is ours is read back by its token, because the affected
			// row count depends on the driver's clientFoundRows setting. The
			// new values are passed again rather than read with VALUES(),
			// which MySQL 8.0.20 deprecated.
			// Args: key, token, lease end, now, now, token, now, lease end.
			claim: "INSERT INTO " + t + " (dedup_key, done, owner, expires_at) VALUES (?, 0, ?, ?)" +
				" ON DUPLICATE KEY UPDATE done = IF(expires_at <= ?, 0, done)," +
				" owner = IF(expires_at <= ?, ?, owner)," +
				" expires_at = IF(expires_at <= ?, ?, expires_at)",
			read: "SELECT done, owner, expires_at FROM " + t + " WHERE dedup_key = ?",
			// Args: key, token, TTL end, token, TTL end.
			done: "INSERT INTO " + t + " (dedup_key, done, owner, expires_at) VALUES (?, 1, ?, ?)" +
				" ON DUPLICATE KEY UPDATE done = 1, owner = ?, expires_at = ?",
			release: "DELETE FROM " + t + " WHERE dedup_key = ? AND done = 0 AND owner = ?",
			purge:   "DELETE FROM " + t + " WHERE expires_at <= ?",
		}, nil
	}
	return sqlQueries{}, fmt.Errorf("push: unknown SQL dialect %v", d)
}

func (q sqlQueries) replace(old, new string) sqlQueries {
	r := func(s string) string { return strings.ReplaceAll(s, old, new) }
	return sqlQueries{schema: q.schema, claim: r(q.claim), read: r(q.read), done: r(q.done),
		release: r(q.release), purge: r(q.purge)}
}

// Schema returns the statements that create the table and its index if
// missing, for the dialect and table of d: what CreateTable runs, for
// callers that manage their schema with migrations.
func (d *SQLDeduper) Schema() []string { return append([]string(nil), d.q.schema...) }

// CreateTable creates the table and its index if they do not exist.
func (d *SQLDeduper) CreateTable(ctx context.Context) error {
	for _, stmt := range d.q.schema {
		if _, err := d.db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("push: SQLDeduper: creating table %s: %w", d.table, err)
		}
	}
	return nil
}

func checkKey(key string) error {
	switch {
	case key == "":
		return errors.New("push: SQLDeduper: empty key")
	case len(key) > MaxKeyLen:
		return fmt.Errorf("push: SQLDeduper: key longer than %d bytes", MaxKeyLen)
	}
	return nil
}

func millis(t time.Time) int64 { return t.UnixMilli() }

// millisUp is t in Unix milliseconds rounded up: an end stored rounded down
// would come up to 1 ms early, and a lease under 1 ms would be over at once.
func millisUp(t time.Time) int64 {
	ms := t.UnixMilli() // rounded down, also before 1970
	if t.After(time.UnixMilli(ms)) {
		ms++
	}
	return ms
}

// sqlRow is a key's row as read.
type sqlRow struct {
	done    bool
	owner   string
	expires int64
}

// claimAttempts bounds Begin's retries when the row changes between its
// statements (released, purged or expired in between).
const claimAttempts = 3

// Begin claims key for the lease, or reports done if it was done within the
// TTL. A claim held by another caller, unexpired, returns [ErrInProgress]
// at once. Database errors are returned wrapped. Done and Release by key act
// on the latest claim Begin took on the key in this SQLDeduper; when two
// callers can hold claims on one key in turn (a handler overran its lease),
// use [SQLDeduper.BeginClaim], as the handler does.
func (d *SQLDeduper) Begin(ctx context.Context, key string) (bool, error) {
	token, done, err := d.begin(ctx, key)
	if token != "" {
		d.mu.Lock()
		d.held[key] = token
		d.mu.Unlock()
	}
	return done, err
}

// BeginClaim is Begin returning the claim taken, whose Done and Release use
// its own token whatever other claims this SQLDeduper takes on the key.
func (d *SQLDeduper) BeginClaim(ctx context.Context, key string) (Claim, bool, error) {
	token, done, err := d.begin(ctx, key)
	if token == "" {
		return nil, done, err
	}
	return sqlClaim{d, key, token}, false, nil
}

// begin claims key and returns the claim's token, or reports done.
func (d *SQLDeduper) begin(ctx context.Context, key string) (token string, done bool, err error) {
	if err := checkKey(key); err != nil {
		return "", false, err
	}
	for attempt := 0; attempt < claimAttempts; attempt++ {
		now := d.now()
		token := d.instance + "-" + strconv.FormatUint(d.seq.Add(1), 36)
		row, claimed, err := d.claim(ctx, key, token, now)
		if err != nil {
			return "", false, fmt.Errorf("push: SQLDeduper: claiming: %w", err)
		}
		if claimed {
			return token, false, nil
		}
		if row == nil { // the row went away in between: try again
			continue
		}
		if row.expires > millis(now) {
			if row.done {
				return "", true, nil
			}
			return "", false, ErrInProgress
		}
		// Expired just now: try again.
	}
	return "", false, ErrInProgress
}

// claim runs the claim statement. It returns claimed, or the row as it is
// when someone else holds it (nil if there is none).
func (d *SQLDeduper) claim(ctx context.Context, key, token string, now time.Time) (*sqlRow, bool, error) {
	leaseEnd, nowMs := millisUp(now.Add(d.lease)), millis(now)
	if d.dialect == MySQL {
		if _, err := d.db.ExecContext(ctx, d.q.claim, key, token, leaseEnd, nowMs, nowMs, token, nowMs, leaseEnd); err != nil {
			return nil, false, err
		}
		row, err := d.read(ctx, key)
		if err != nil {
			return nil, false, err
		}
		return row, row != nil && !row.done && row.owner == token, nil
	}
	res, err := d.db.ExecContext(ctx, d.q.claim, key, token, leaseEnd, nowMs)
	if err != nil {
		return nil, false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, false, err
	}
	if n == 1 {
		return nil, true, nil
	}
	row, err := d.read(ctx, key)
	return row, false, err
}

func (d *SQLDeduper) read(ctx context.Context, key string) (*sqlRow, error) {
	var r sqlRow
	var done int64
	err := d.db.QueryRowContext(ctx, d.q.read, key).Scan(&done, &r.owner, &r.expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r.done = done != 0
	return &r, nil
}

// take forgets and returns the token of this SQLDeduper's claim on key.
func (d *SQLDeduper) take(key string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	token := d.held[key]
	delete(d.held, key)
	return token
}

// Done marks key done until the TTL ends, whoever holds its row: the
// handler succeeded, so even a claim taken over after this one's lease ended
// must not run it again.
func (d *SQLDeduper) Done(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	token := d.take(key)
	if token == "" {
		token = d.instance
	}
	return d.done(ctx, key, token)
}

func (d *SQLDeduper) done(ctx context.Context, key, token string) error {
	args := []any{key, token, millisUp(d.now().Add(d.ttl))}
	if d.dialect == MySQL {
		args = append(args, args[1], args[2])
	}
	if _, err := d.db.ExecContext(ctx, d.q.done, args...); err != nil {
		return fmt.Errorf("push: SQLDeduper: marking done: %w", err)
	}
	return nil
}

// Release deletes the latest claim Begin took on key in this SQLDeduper so
// that the next Begin takes it. A claim another SQLDeduper took over after
// this one's lease ended, and a done key, are left alone; a claim this
// SQLDeduper's Begin took over is not, which is why the handler uses
// [SQLDeduper.BeginClaim].
func (d *SQLDeduper) Release(ctx context.Context, key string) error {
	token := d.take(key)
	if token == "" {
		return nil // no claim of ours
	}
	return d.release(ctx, key, token)
}

// release deletes the claim row of key while it carries token.
func (d *SQLDeduper) release(ctx context.Context, key, token string) error {
	if _, err := d.db.ExecContext(ctx, d.q.release, key, token); err != nil {
		return fmt.Errorf("push: SQLDeduper: releasing: %w", err)
	}
	return nil
}

// sqlClaim is the claim of an SQLDeduper on key, told apart by its token.
type sqlClaim struct {
	d          *SQLDeduper
	key, token string
}

func (c sqlClaim) Done(ctx context.Context) error    { return c.d.done(ctx, c.key, c.token) }
func (c sqlClaim) Release(ctx context.Context) error { return c.d.release(ctx, c.key, c.token) }

// Delivered reports whether key is done and not yet expired.
func (d *SQLDeduper) Delivered(ctx context.Context, key string) (bool, error) {
	row, err := d.read(ctx, key)
	if err != nil {
		return false, fmt.Errorf("push: SQLDeduper: reading: %w", err)
	}
	return row != nil && row.done && row.expires > millis(d.now()), nil
}

// Purge deletes the rows that have expired (done keys past their TTL,
// claims past their lease) and returns how many. Run it periodically.
func (d *SQLDeduper) Purge(ctx context.Context) (int64, error) {
	res, err := d.db.ExecContext(ctx, d.q.purge, millis(d.now()))
	if err != nil {
		return 0, fmt.Errorf("push: SQLDeduper: purging: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("push: SQLDeduper: purging: %w", err)
	}
	return n, nil
}
