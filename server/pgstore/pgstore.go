// Package pgstore keeps an app's data in PostgreSQL, so that several sync
// servers can serve one app (docs/server.md, "Running several servers").
//
// It is a storage.Store like boltstore, plus what sharing needs:
//
//   - Every commit moves the app's version (jazz_apps.version) by one and
//     stamps each key it writes with it (jazz_kv.version). A commit first
//     locks the app's jazz_apps row (SELECT ... FOR UPDATE), so commits of
//     one app are serialized and version order is commit order: reading
//     "version > mine" never skips a commit that was still running, the
//     trap of a plain sequence, which is taken at insert and commits in any
//     order (TestNaiveSequenceLosesARow shows it).
//   - Begin takes that lock for a server's write, and hands back what the
//     others committed since the version the server has seen, so it can
//     bring its engine up to date before deciding anything (policies,
//     existence, resends). The one Apply made with the Write's context then
//     commits; only then does the engine install the change and the server
//     ack it.
//   - After each commit, pg_notify wakes the other servers (Listen); they
//     read the new versions with Changes.
//
// The tables are generic (bucket, key, value), as the storage seam is: the
// engine stays the one owner of how rows are encoded, and one tail over one
// table carries rows, applied-change ids and the published bundle alike in
// commit order.
package pgstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jazzgo/jazz-tools/core/storage"
)

// Defaults applied by Open to zero Options fields.
const (
	// DefaultMaxConns bounds one server's connections: one for its
	// serialized writes, one for the tail, the rest for reads at start and
	// for stores opened beside it. LISTEN holds one more of its own.
	DefaultMaxConns = 4
	// DefaultLockTimeout is Postgres' idle_in_transaction_session_timeout
	// for this store's sessions: a server that freezes (SIGSTOP, a stalled
	// VM) while holding its app's lock loses its transaction after this
	// long, and the others go on.
	DefaultLockTimeout = 10 * time.Second
)

// ErrBadURL is returned (wrapped, with the reason) by Open for a database
// URL that does not parse.
var ErrBadURL = errors.New("pgstore: the database URL cannot be used")

// ErrWriteDone is returned by an Apply made with a Write's context after
// that Write already committed: a Write holds one commit.
var ErrWriteDone = errors.New("pgstore: this write has committed already; begin another")

// Options tunes Open.
type Options struct {
	// MaxConns bounds the connection pool. Zero means DefaultMaxConns.
	MaxConns int32
	// LockTimeout overrides idle_in_transaction_session_timeout unless the
	// database URL sets it. Zero means DefaultLockTimeout.
	LockTimeout time.Duration
}

// Store is one app's data in a PostgreSQL database. It is safe for
// concurrent use.
type Store struct {
	pool    *pgxpool.Pool
	app     string
	channel string
	mu      sync.Mutex
	closed  bool
	// listeners are Listen's goroutines, stopped by Close.
	stop chan struct{}
	wg   sync.WaitGroup
}

var _ storage.Store = (*Store)(nil)

const schemaSQL = `
CREATE TABLE IF NOT EXISTS jazz_apps (
	app text PRIMARY KEY,
	version bigint NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS jazz_kv (
	app text NOT NULL,
	bucket text NOT NULL,
	key bytea NOT NULL,
	value bytea NOT NULL,
	version bigint NOT NULL,
	PRIMARY KEY (app, bucket, key)
);
CREATE INDEX IF NOT EXISTS jazz_kv_version ON jazz_kv (app, version);
`

// schemaLock is the advisory lock key under which Open creates the tables,
// so servers starting together do not race on CREATE TABLE.
const schemaLock = 0x6a617a7a // "jazz"

// Open connects to the database at url (a postgres:// URL or a key=value
// connection string), creates the tables if they are missing and the app's
// row, and returns the app's store.
func Open(ctx context.Context, url, app string, o Options) (*Store, error) {
	if app == "" {
		return nil, errors.New("pgstore: an app id is required")
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	cfg.MaxConns = o.MaxConns
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	lock := o.LockTimeout
	if lock <= 0 {
		lock = DefaultLockTimeout
	}
	rp := cfg.ConnConfig.RuntimeParams
	if rp["idle_in_transaction_session_timeout"] == "" {
		rp["idle_in_transaction_session_timeout"] = strconv.FormatInt(lock.Milliseconds(), 10)
	}
	// An ack promises the write is durable; a database that defaults to
	// asynchronous commit would break that, so it is asked for here.
	rp["synchronous_commit"] = "on"
	if rp["application_name"] == "" {
		rp["application_name"] = "jazz-tools"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: connecting: %w", err)
	}
	s := &Store{pool: pool, app: app, channel: Channel(app), stop: make(chan struct{})}
	if err := s.init(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Channel is the NOTIFY channel of app's commits: a hash, since app ids may
// be longer than Postgres' 63-byte identifiers.
func Channel(app string) string {
	h := sha256.Sum256([]byte(app))
	return "jazz_" + hex.EncodeToString(h[:12])
}

func (s *Store) init(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(schemaLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, schemaSQL); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO jazz_apps (app) VALUES ($1) ON CONFLICT (app) DO NOTHING`, s.app)
		return err
	})
	if err != nil {
		return fmt.Errorf("pgstore: creating the tables: %w", err)
	}
	return nil
}

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// App is the app this store holds.
func (s *Store) App() string { return s.app }

// Get implements storage.Store.
func (s *Store) Get(ctx context.Context, bucket string, key []byte) ([]byte, bool, error) {
	if s.isClosed() {
		return nil, false, storage.ErrClosed
	}
	if bucket == "" {
		return nil, false, storage.ErrBadBucket
	}
	var v []byte
	err := s.pool.QueryRow(ctx, `SELECT value FROM jazz_kv WHERE app=$1 AND bucket=$2 AND key=$3`, s.app, bucket, nonNil(key)).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("pgstore: get: %w", err)
	}
	return v, true, nil
}

// Scan implements storage.Store. bytea compares byte by byte, so ORDER BY
// key is the contract's ascending key order.
func (s *Store) Scan(ctx context.Context, bucket string, prefix []byte, fn func(k, v []byte) error) error {
	if s.isClosed() {
		return storage.ErrClosed
	}
	if bucket == "" {
		return storage.ErrBadBucket
	}
	q := `SELECT key, value FROM jazz_kv WHERE app=$1 AND bucket=$2 AND key >= $3 ORDER BY key`
	args := []any{s.app, bucket, nonNil(prefix)}
	if end := prefixEnd(prefix); end != nil {
		q = `SELECT key, value FROM jazz_kv WHERE app=$1 AND bucket=$2 AND key >= $3 AND key < $4 ORDER BY key`
		args = append(args, end)
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("pgstore: scan: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, v []byte
		if err := rows.Scan(&k, &v); err != nil {
			return fmt.Errorf("pgstore: scan: %w", err)
		}
		if err := fn(k, v); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("pgstore: scan: %w", err)
	}
	return nil
}

// prefixEnd is the smallest key above every key starting with p, nil when
// there is none (p empty or all 0xff).
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for len(end) > 0 {
		if end[len(end)-1] < 0xff {
			end[len(end)-1]++
			return end
		}
		end = end[:len(end)-1]
	}
	return nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Apply implements storage.Store: the ops commit atomically as one new
// version of the app. With a context from Write.Context, they commit in
// that Write's transaction, under the lock it holds; otherwise Apply takes
// the lock itself.
func (s *Store) Apply(ctx context.Context, ops []storage.Op) error {
	for _, op := range ops {
		if op.Bucket == "" {
			return storage.ErrBadBucket
		}
		if len(op.Key) == 0 {
			return storage.ErrEmptyKey
		}
	}
	if s.isClosed() {
		return storage.ErrClosed
	}
	if w, ok := ctx.Value(writeKey{}).(*Write); ok && w.s == s {
		return w.commit(ctx, ops)
	}
	w, err := s.Begin(ctx, noTail)
	if err != nil {
		return err
	}
	defer w.Close()
	return w.commit(ctx, ops)
}

// noTail is Begin's after for a caller that wants no tail.
const noTail = ^uint64(0)

// Write is one serialized write: it holds the app's lock from Begin until
// its one commit (an Apply with its Context) or Close.
type Write struct {
	s    *Store
	conn *pgxpool.Conn
	open bool // a transaction is open on conn
	// Version is the app's version when the lock was taken.
	Version uint64
	// Tail is what committed after the version given to Begin, up to
	// Version, in commit order: each key's value as it now stands (a key
	// written again later appears once, at its latest version; deleted
	// keys do not appear).
	Tail      []storage.Op
	committed uint64
	done      bool
}

type writeKey struct{}

// Begin takes the app's lock, waiting for a write of another server to
// commit, and reads what committed after version after (none when after
// is at or past the current version). BEGIN, the lock and the read go in
// one round trip: holding the lock, no later commit can exist, so the
// read needs no upper bound.
func (s *Store) Begin(ctx context.Context, after uint64) (*Write, error) {
	if s.isClosed() {
		return nil, storage.ErrClosed
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("pgstore: begin: %w", err)
	}
	w := &Write{s: s, conn: conn, open: true}
	var b pgx.Batch
	b.Queue(`BEGIN`)
	b.Queue(`SELECT version FROM jazz_apps WHERE app=$1 FOR UPDATE`, s.app)
	if after != noTail {
		b.Queue(tailSQL, s.app, int64(after))
	}
	err = func() error {
		br := conn.SendBatch(ctx, &b)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return err
		}
		var v int64
		if err := br.QueryRow().Scan(&v); err != nil {
			return fmt.Errorf("locking the app: %w", err)
		}
		w.Version = uint64(v)
		if after != noTail {
			rows, err := br.Query()
			if err != nil {
				return err
			}
			w.Tail, err = scanTail(rows)
			if err != nil {
				return err
			}
		}
		return br.Close()
	}()
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("pgstore: begin: %w", err)
	}
	return w, nil
}

// Context returns ctx carrying w: an Apply on w's store with it commits
// in w.
func (w *Write) Context(ctx context.Context) context.Context {
	return context.WithValue(ctx, writeKey{}, w)
}

// Committed returns the version w committed, or false if it did not.
func (w *Write) Committed() (uint64, bool) { return w.committed, w.committed != 0 }

func (w *Write) commit(ctx context.Context, ops []storage.Op) error {
	if w.done {
		return ErrWriteDone
	}
	w.done = true
	version := w.Version + 1
	// The writes, the version, COMMIT and the NOTIFY go in one round trip.
	// NOTIFY comes after COMMIT, in a transaction of its own: inside the
	// write's it would take a database-wide lock at commit. A lost one
	// costs the others their next poll.
	var b pgx.Batch
	queueOps(&b, w.s.app, ops, version)
	b.Queue(`UPDATE jazz_apps SET version=$2 WHERE app=$1`, w.s.app, int64(version))
	b.Queue(`COMMIT`)
	b.Queue(`SELECT pg_notify($1, $2)`, w.s.channel, strconv.FormatUint(version, 10))
	n := b.Len()
	br := w.conn.SendBatch(ctx, &b)
	var err error
	for i := 0; i < n && err == nil; i++ {
		_, err = br.Exec()
		if i == n-2 && err == nil {
			// COMMIT returned: the write is durable (synchronous_commit).
			w.committed, w.open = version, false
		}
	}
	cerr := br.Close()
	if w.committed == 0 {
		// Not committed, or (the connection broke during COMMIT) not
		// known to be: either way the caller does not install or ack,
		// and if it did commit, the others (and this server's tail) read
		// it as theirs.
		return fmt.Errorf("pgstore: apply: %w", errors.Join(err, cerr))
	}
	return nil
}

// Close releases w: rolls back unless it committed, and frees its
// connection. It is safe to call more than once.
func (w *Write) Close() {
	if w.conn == nil {
		return
	}
	if w.open {
		// A failed ROLLBACK (a broken connection) leaves the transaction
		// to die with the connection, which is closed rather than reused.
		if _, err := w.conn.Exec(context.Background(), `ROLLBACK`); err != nil {
			w.conn.Conn().Close(context.Background())
		}
		w.open = false
	}
	w.conn.Release()
	w.conn = nil
}

// queueOps queues a batch's writes as version: each key's last op wins,
// puts in one statement and deletes in another however many ops.
func queueOps(b *pgx.Batch, app string, ops []storage.Op, version uint64) {
	type kv struct {
		bucket string
		key    string
	}
	last := map[kv]int{}
	for i, op := range ops {
		last[kv{op.Bucket, string(op.Key)}] = i
	}
	var pb, db []string
	var pk, pv, dk [][]byte
	for i, op := range ops {
		if last[kv{op.Bucket, string(op.Key)}] != i {
			continue
		}
		if op.Delete {
			db, dk = append(db, op.Bucket), append(dk, op.Key)
		} else {
			pb, pk, pv = append(pb, op.Bucket), append(pk, op.Key), append(pv, nonNil(op.Value))
		}
	}
	if len(db) > 0 {
		b.Queue(`DELETE FROM jazz_kv WHERE app=$1 AND (bucket, key) IN (SELECT * FROM unnest($2::text[], $3::bytea[]))`, app, db, dk)
	}
	if len(pb) > 0 {
		b.Queue(`INSERT INTO jazz_kv (app, bucket, key, value, version)
			SELECT $1, b, k, v, $5 FROM unnest($2::text[], $3::bytea[], $4::bytea[]) AS t(b, k, v)
			ON CONFLICT (app, bucket, key) DO UPDATE SET value = EXCLUDED.value, version = EXCLUDED.version`,
			app, pb, pk, pv, int64(version))
	}
}

const tailSQL = `SELECT bucket, key, value FROM jazz_kv WHERE app=$1 AND version > $2 ORDER BY version, bucket, key`

func scanTail(rows pgx.Rows) ([]storage.Op, error) {
	defer rows.Close()
	var ops []storage.Op
	for rows.Next() {
		var op storage.Op
		if err := rows.Scan(&op.Bucket, &op.Key, &op.Value); err != nil {
			return nil, fmt.Errorf("pgstore: reading changes: %w", err)
		}
		ops = append(ops, op)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgstore: reading changes: %w", err)
	}
	return ops, nil
}

// Version returns the app's current version.
func (s *Store) Version(ctx context.Context) (uint64, error) {
	if s.isClosed() {
		return 0, storage.ErrClosed
	}
	var v int64
	if err := s.pool.QueryRow(ctx, `SELECT version FROM jazz_apps WHERE app=$1`, s.app).Scan(&v); err != nil {
		return 0, fmt.Errorf("pgstore: version: %w", err)
	}
	return uint64(v), nil
}

// Changes returns the app's version and what committed after version
// after up to it (as Write.Tail), without taking the lock, in one
// statement, so in one snapshot: commits are serialized, so whatever it
// sees is every commit up to the version it returns.
func (s *Store) Changes(ctx context.Context, after uint64) (uint64, []storage.Op, error) {
	if s.isClosed() {
		return 0, nil, storage.ErrClosed
	}
	rows, err := s.pool.Query(ctx, `WITH v AS (SELECT version FROM jazz_apps WHERE app=$1)
		SELECT v.version, k.bucket, k.key, k.value FROM v
		LEFT JOIN jazz_kv k ON k.app=$1 AND k.version > $2 AND k.version <= v.version
		ORDER BY k.version, k.bucket, k.key`, s.app, int64(after))
	if err != nil {
		return 0, nil, fmt.Errorf("pgstore: reading changes: %w", err)
	}
	defer rows.Close()
	var (
		version int64
		ops     []storage.Op
	)
	for rows.Next() {
		var (
			bucket *string
			op     storage.Op
		)
		if err := rows.Scan(&version, &bucket, &op.Key, &op.Value); err != nil {
			return 0, nil, fmt.Errorf("pgstore: reading changes: %w", err)
		}
		if bucket != nil { // else the version alone: nothing new
			op.Bucket = *bucket
			ops = append(ops, op)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, nil, fmt.Errorf("pgstore: reading changes: %w", err)
	}
	return uint64(version), ops, nil
}

// Listen calls wake whenever another server (or this one) commits to the
// app, and once each time its connection is (re)made, since notifications
// sent while it was down are lost. It holds a connection of its own,
// outside the pool (LISTEN needs a session, not a transaction pooler), and
// reconnects until Close.
func (s *Store) Listen(wake func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-s.stop; cancel() }()
		backoff := 50 * time.Millisecond
		for ctx.Err() == nil {
			err := s.listenOnce(ctx, wake)
			if ctx.Err() != nil {
				return
			}
			_ = err
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(2*backoff, 2*time.Second)
		}
	}()
}

func (s *Store) listenOnce(ctx context.Context, wake func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `LISTEN "`+s.channel+`"`); err != nil {
		return err
	}
	wake()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		wake()
	}
}

// Close implements storage.Store: it stops Listen and closes the pool.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	s.wg.Wait()
	s.pool.Close()
	return nil
}
