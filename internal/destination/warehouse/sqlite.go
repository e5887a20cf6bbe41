package warehouse

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	wh "github.com/statsig-bridge/statsig-bridge/internal/warehouse"
)

// sqliteDB is one database file per source. Timestamps are stored as ISO
// 8601 text in UTC with milliseconds ("2025-01-02T03:04:05.000Z"), which
// sorts as time and which SQLite's date functions read; booleans as 0/1.
// Declared types read like Postgres's (BIGINT, DOUBLE PRECISION, TIMESTAMP,
// BOOLEAN, TEXT) and give the matching affinities.
type sqliteDB struct {
	db *sql.DB

	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt // see insert

	// writeMu is held by the worker loading a group; queue holds the
	// batches waiting for the next group (see load).
	writeMu sync.Mutex
	queueMu sync.Mutex
	queue   []*loadReq

	// ckpt is a second connection that copies the write-ahead log back
	// into the database file (see checkpoints).
	ckpt     *sql.DB
	wrote    chan struct{}
	stopCkpt context.CancelFunc
	ckptDone chan struct{}
	log      *slog.Logger

	// ledger is set when duplicates are kept out by the loaded-events
	// ledger (see loaded.go) rather than by a primary key on each table's
	// id: databases this version creates. A warehouse an earlier version
	// made keeps its primary keys and loads as before.
	ledger atomic.Bool
	// tracksView is set when tracks is a view over the event tables
	// (sqlite_tracks.go): databases this version creates.
	tracksView atomic.Bool
	// viewAt is the schema version the tracks view was last made for.
	viewAt atomic.Int64
}

// sqliteMaxVars is SQLite's default bound on the parameters of a statement.
const sqliteMaxVars = 32766

func openSQLite(path string, log *slog.Logger) (*sqliteDB, error) {
	if path == "" {
		return nil, errors.New("warehouse: no SQLite file (dsn)")
	}
	file := strings.TrimPrefix(path, "file:")
	if i := strings.IndexByte(file, '?'); i >= 0 {
		file = file[:i]
	}
	if dir := filepath.Dir(file); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("warehouse: %w", err)
		}
	}
	dsn := path
	if !strings.HasPrefix(dsn, "file:") {
		dsn = "file:" + dsn
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// 8 MiB of page cache per connection: SQLite allocates it outside the
	// Go heap, so Go's memory limit does not see it. Since new tables have
	// no random-keyed id index (loaded.go), 32 MiB loaded no faster
	// (31k vs 35k events/s alone) and took 50 MB more at peak.
	q.Add("_pragma", "cache_size(-8192)")
	q.Add("_pragma", "temp_store(MEMORY)")
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	ckpt, err := sql.Open("sqlite", dsn+sep+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("warehouse: %w", err)
	}
	ckpt.SetMaxOpenConns(1)
	// The loader's connection never checkpoints itself: see checkpoints.
	q.Add("_pragma", "wal_autocheckpoint(0)")
	// Its transactions take the write lock when they begin: a DDL
	// transaction reads the catalogue before it rebuilds the tracks view,
	// and a load reads the ledger before it writes, and a read turned into
	// a write fails at once (SQLITE_BUSY) when another process on the file
	// wrote in between, where a lock taken at BEGIN waits busy_timeout.
	q.Add("_txlock", "immediate")
	db, err := sql.Open("sqlite", dsn+sep+q.Encode())
	if err != nil {
		ckpt.Close()
		return nil, fmt.Errorf("warehouse: %w", err)
	}
	// One writer at a time is all SQLite allows; one connection also keeps
	// DDL and loads in order.
	db.SetMaxOpenConns(1)
	for _, d := range []*sql.DB{db, ckpt} {
		if err := d.Ping(); err != nil {
			db.Close()
			ckpt.Close()
			return nil, fmt.Errorf("warehouse: opening %s: %w", file, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &sqliteDB{db: db, ckpt: ckpt, log: log, wrote: make(chan struct{}, 1), stopCkpt: cancel, ckptDone: make(chan struct{})}
	go s.checkpoints(ctx)
	return s, nil
}

func (s *sqliteDB) close() error {
	s.stopCkpt()
	<-s.ckptDone
	s.dropStmts()
	return errors.Join(s.db.Close(), s.ckpt.Close())
}

// checkpointEvery spaces the checkpoints: the pages a burst of loads
// rewrites (the id index's) are copied back once, not once per load.
const checkpointEvery = 250 * time.Millisecond

// checkpoints copies committed pages from the write-ahead log into the
// database file after loads, on its own connection and goroutine. Left to
// the loader (SQLite's automatic checkpoint, in the COMMIT that crosses
// 1,000 pages), that copy was a sixth of the loader's time, spent while
// every other batch waited for the one connection. A PASSIVE checkpoint
// takes no lock a writer waits for; once it has copied every frame, the
// next load starts the log from its beginning again, so it stays a few
// loads long. A crash loses nothing: committed frames in the log are the
// database's until copied, and the next open recovers them.
func (s *sqliteDB) checkpoints(ctx context.Context) {
	defer close(s.ckptDone)
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wrote:
		}
		if _, err := s.ckpt.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)"); err != nil && ctx.Err() == nil {
			// The next load signals again; the log only grows meanwhile.
			s.log.Warn("warehouse: copying the write-ahead log into the database file failed; retrying after the next load", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(checkpointEvery):
		}
	}
}

// loaded tells the checkpointer there are frames to copy.
func (s *sqliteDB) loaded() {
	select {
	case s.wrote <- struct{}{}:
	default:
	}
}

// setup decides how this database keeps duplicates out: an earlier
// version's warehouse (a table but users keyed by id) keeps its primary
// keys; any other gets the loaded-events ledger (made if missing) and
// tables without a key on id (see loaded.go).
func (s *sqliteDB) setup(ctx context.Context) error {
	var keyed int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema t, pragma_table_info(t.name) c
		WHERE t.type = 'table' AND t.name NOT LIKE 'sqlite\_%' ESCAPE '\' AND t.name NOT LIKE '\_bridge\_%' ESCAPE '\'
		AND t.name <> ? AND c.name = 'id' AND c.pk > 0`, wh.UsersTable).Scan(&keyed)
	if err != nil {
		return fmt.Errorf("reading the tables: %w", err)
	}
	if keyed > 0 {
		s.ledger.Store(false)
		return s.tracksMode(ctx)
	}
	// Each statement on its own (IF NOT EXISTS): bridges opening the same
	// new file at once wait for each other's DDL instead of failing to
	// upgrade a read transaction.
	for _, q := range loadedDDL {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("creating the loaded-events ledger: %w", err)
		}
	}
	s.ledger.Store(true)
	return s.tracksMode(ctx)
}

func sqliteDecl(t wh.Type) string {
	switch t {
	case wh.Bool:
		return "BOOLEAN"
	case wh.Int:
		return "BIGINT"
	case wh.Float:
		return "DOUBLE PRECISION"
	case wh.Timestamp:
		return "TIMESTAMP"
	}
	return "TEXT"
}

func sqliteTypeOf(decl string) wh.Type {
	switch d := strings.ToUpper(decl); {
	case d == "BOOLEAN":
		return wh.Bool
	case strings.Contains(d, "INT"):
		return wh.Int
	case strings.Contains(d, "DOUB"), strings.Contains(d, "REAL"), strings.Contains(d, "FLOA"):
		return wh.Float
	case strings.HasPrefix(d, "TIMESTAMP"), d == "DATETIME":
		return wh.Timestamp
	}
	return wh.Text
}

// columns reads table's columns; tracks's from its column list where it is
// a view (the view itself is rebuilt at the next load).
func (s *sqliteDB) columns(ctx context.Context, table string) (map[string]wh.Type, error) {
	table = s.physical(table)
	rows, err := s.db.QueryContext(ctx, "SELECT name, type FROM pragma_table_info(?)", table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols map[string]wh.Type
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, err
		}
		if cols == nil {
			cols = map[string]wh.Type{}
		}
		cols[name] = sqliteTypeOf(typ)
	}
	return cols, rows.Err()
}

func (s *sqliteDB) createTable(ctx context.Context, table string, cols []wh.Column) error {
	if s.derived(table) {
		return s.createTracksView(ctx, cols)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, s.createTableQuery(table, append(append([]wh.Column(nil), wh.StandardColumnsOf(table)...), cols...))); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON %s (received_at)",
		quote(indexName(table)), quote(table))); err != nil {
		return err
	}
	return tx.Commit()
}

// createTableQuery is the CREATE TABLE of table with cols.
func (s *sqliteDB) createTableQuery(table string, cols []wh.Column) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s (", quote(table))
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quote(c.Name) + " " + sqliteDecl(c.Type))
		if c.Name == "id" {
			// users is upserted by id; the other tables have the ledger
			// when the database has one.
			if !s.ledger.Load() || table == wh.UsersTable {
				b.WriteString(" PRIMARY KEY")
			}
			b.WriteString(" NOT NULL")
		}
	}
	b.WriteString(")")
	return b.String()
}

func (s *sqliteDB) addColumns(ctx context.Context, table string, cols []wh.Column) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, c := range cols {
		_, err := tx.ExecContext(ctx, fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", quote(s.physical(table)), quote(c.Name), sqliteDecl(c.Type)))
		if err != nil && !strings.Contains(err.Error(), "duplicate column name") {
			return err
		}
	}
	return tx.Commit()
}

// sqliteRowsPerInsert is the rows of one prepared INSERT: enough to
// amortise a statement's run over many rows, small enough that the cached
// programs stay small (a 64-row INSERT of 40 columns is ≈ 200 KB).
const sqliteRowsPerInsert = 64

// loadReq is one Write's batches waiting for a group commit.
type loadReq struct {
	batches []tableBatch
	done    chan error // buffered: the leader never waits on it
}

// load commits the batches together with those other workers handed in
// while the previous transaction ran (group commit): the first to get the
// connection loads everyone's waiting batches in one transaction. Messages
// have random ids, so every commit rewrites most pages of each table's id
// index; committing four batches at once writes those pages once instead
// of four times. If the shared transaction fails, each batch is loaded
// again alone, so one refused batch fails only its own Write (the runner
// bisects it) and no batch is acked before its own rows are committed.
func (s *sqliteDB) load(ctx context.Context, batches []tableBatch) error {
	req := &loadReq{batches: batches, done: make(chan error, 1)}
	s.queueMu.Lock()
	s.queue = append(s.queue, req)
	s.queueMu.Unlock()
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	select {
	case err := <-req.done:
		return err // a previous leader loaded it
	default:
	}
	s.queueMu.Lock()
	group := s.queue
	s.queue = nil
	s.queueMu.Unlock()
	var all []tableBatch
	for _, r := range group {
		all = append(all, r.batches...)
	}
	err := s.loadTx(ctx, all)
	if err != nil && len(group) > 1 {
		for _, r := range group {
			r.done <- s.loadTx(ctx, r.batches)
		}
	} else {
		for _, r := range group {
			r.done <- err
		}
	}
	return <-req.done
}

// loadTx inserts the batches in one transaction through prepared, cached
// multi-row INSERTs: parsing a 500-row statement for every chunk of every
// batch was an eighth of the loader's time.
func (s *sqliteDB) loadTx(ctx context.Context, batches []tableBatch) error {
	// Statements are prepared before the transaction takes the one
	// connection.
	type plan struct{ full, one *sql.Stmt }
	plans := make([]plan, len(batches))
	for i, b := range batches {
		per := max(1, min(sqliteRowsPerInsert, sqliteMaxVars/len(b.cols)))
		var err error
		if len(b.rows) >= per {
			if plans[i].full, err = s.insert(ctx, b.table, b.cols, per); err != nil {
				return fmt.Errorf("loading %s: %w", b.table, err)
			}
		}
		// The ledger may leave any number of rows: the one-row INSERT is
		// always ready.
		if len(b.rows)%per != 0 || s.ledger.Load() {
			if plans[i].one, err = s.insert(ctx, b.table, b.cols, 1); err != nil {
				return fmt.Errorf("loading %s: %w", b.table, err)
			}
		}
	}
	var ledger *ledgerStmts
	if s.ledger.Load() {
		var err error
		if ledger, err = s.ledgerStmts(ctx); err != nil {
			return fmt.Errorf("loading the loaded-events ledger: %w", err)
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	viewAt, err := s.freshTracksView(ctx, tx)
	if err != nil {
		return err
	}
	if ledger != nil {
		if batches, err = ledger.newRows(ctx, tx, batches, s.tracksView.Load()); err != nil {
			return fmt.Errorf("loading the loaded-events ledger: %w", err)
		}
	}
	for i, b := range batches {
		per := max(1, min(sqliteRowsPerInsert, sqliteMaxVars/len(b.cols)))
		full, one := plans[i].full, plans[i].one
		if full != nil {
			full = tx.StmtContext(ctx, full)
		}
		if one != nil {
			one = tx.StmtContext(ctx, one)
		}
		rows, args := b.rows, b.args
		for len(rows) > 0 {
			// Full chunks, then the rest row by row: one more cached
			// statement rather than one per size.
			n, st := per, full
			if len(rows) < per {
				n, st = 1, one
			}
			if _, err := st.ExecContext(ctx, args[:n*len(b.cols)]...); err != nil {
				return fmt.Errorf("loading %s: %w", b.table, err)
			}
			rows, args = rows[n:], args[n*len(b.cols):]
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if viewAt != 0 {
		s.viewAt.Store(viewAt)
	}
	s.loaded()
	return nil
}

// insert returns the cached INSERT of n rows into table's cols, preparing
// it on first use. The cache is dropped whole when it grows past a bound
// (tables whose column sets keep changing) and when the catalogue changes.
func (s *sqliteDB) insert(ctx context.Context, table string, cols []string, n int) (*sql.Stmt, error) {
	key := table + "\x00" + strings.Join(cols, "\x00") + "\x00" + strconv.Itoa(n)
	return s.prepare(ctx, key, func() string {
		return insertQuery(table, cols, n)
	})
}

// insertQuery is the INSERT of n rows. ON CONFLICT has no target: the
// tables of an earlier version's warehouse skip an id present by their
// primary key; the others have none, and the ledger left out the rows
// loaded before.
func insertQuery(table string, cols []string, n int) string {
	quoted := make([]string, len(cols))
	for j, c := range cols {
		quoted[j] = quote(c)
	}
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
	var q strings.Builder
	fmt.Fprintf(&q, "INSERT INTO %s (%s) VALUES ", quote(table), strings.Join(quoted, ", "))
	for i := range n {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString(tuple)
	}
	q.WriteString(" ON CONFLICT DO NOTHING")
	return q.String()
}

// prepare returns the cached statement of key, preparing query() on first
// use.
func (s *sqliteDB) prepare(ctx context.Context, key string, query func() string) (*sql.Stmt, error) {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if st, ok := s.stmts[key]; ok {
		return st, nil
	}
	if len(s.stmts) >= sqliteMaxStmts {
		s.dropStmtsLocked()
	}
	st, err := s.db.PrepareContext(ctx, query())
	if err != nil {
		return nil, err
	}
	if s.stmts == nil {
		s.stmts = map[string]*sql.Stmt{}
	}
	s.stmts[key] = st
	return st, nil
}

// sqliteMaxStmts bounds the cached INSERTs (two per table and column set).
const sqliteMaxStmts = 128

func (s *sqliteDB) dropStmts() {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	s.dropStmtsLocked()
}

func (s *sqliteDB) dropStmtsLocked() {
	for _, st := range s.stmts {
		st.Close()
	}
	s.stmts = nil
}

// values lays the rows out as one argument list, times as ISO text and
// booleans as 0/1: work done before the loader's lock, not under it.
// A column's time is converted once while it repeats from row to row:
// uuid_ts is one time for every row, received_at and sent_at one per log
// message.
func (s *sqliteDB) values(b *tableBatch) {
	b.args = make([]any, 0, len(b.rows)*len(b.cols))
	type converted struct {
		t time.Time
		v any
	}
	last := make([]converted, len(b.cols))
	for _, row := range b.rows {
		for j, v := range row {
			if t, ok := v.(time.Time); ok {
				if c := &last[j]; c.v != nil && c.t.Equal(t) {
					b.args = append(b.args, c.v)
					continue
				}
				last[j] = converted{t, sqliteValue(t)}
				b.args = append(b.args, last[j].v)
				continue
			}
			b.args = append(b.args, sqliteValue(v))
		}
	}
}

// sqliteValue stores times as ISO text and booleans as 0/1.
func sqliteValue(v any) any {
	switch v := v.(type) {
	case time.Time:
		return v.UTC().Format(timeFormat)
	case bool:
		if v {
			return int64(1)
		}
		return int64(0)
	}
	return v
}

// timeFormat is how SQLite holds timestamps (Segment's own format).
const timeFormat = "2006-01-02T15:04:05.000Z"

// classify: a full disk, a lock or I/O is retried; a constraint or type the
// database refuses is permanent; a read-only or unopenable file pauses.
func (s *sqliteDB) classify(err error) (error, bool) {
	if errors.Is(err, errStaleCatalogue) {
		s.dropStmts()
		return err, true
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err, false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_PERM, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_AUTH, sqlite3.SQLITE_CANTOPEN:
		return &destination.AuthError{Err: err}, false
	case sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_MISMATCH, sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_RANGE:
		return &destination.PermanentError{Err: err, Response: err.Error()}, false
	case sqlite3.SQLITE_ERROR:
		if m := err.Error(); strings.Contains(m, "no such table") || strings.Contains(m, "no such column") || strings.Contains(m, "has no column") {
			s.dropStmts()
			return err, true
		}
	}
	return err, false
}
