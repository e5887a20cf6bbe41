package warehouse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	wh "github.com/statsig-bridge/statsig-bridge/internal/warehouse"
)

// postgres loads a batch in one transaction with COPY (see load).
type postgres struct {
	pool   *pgxpool.Pool
	schema string

	// binary is each table's columns' binary COPY encodings, as last read
	// from the catalogue (see pgBinary).
	binaryMu sync.Mutex
	binary   map[string]map[string]pgBinary
}

func openPostgres(dsn, schema string) (*postgres, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("warehouse dsn: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("warehouse: %w", err)
	}
	return &postgres{pool: pool, schema: schema, binary: map[string]map[string]pgBinary{}}, nil
}

func (p *postgres) close() error { p.pool.Close(); return nil }

// quote quotes an identifier (pgx's quoting: SQLite reads it the same);
// every identifier is quoted, so reserved words ("order", "user") work as
// column names.
func quote(name string) string { return pgx.Identifier{name}.Sanitize() }

func (p *postgres) qualified(table string) string { return pgx.Identifier{p.schema, table}.Sanitize() }

func pgType(t wh.Type) string { return t.String() }

func (p *postgres) setup(ctx context.Context) error {
	if err := p.ddl(ctx, "", "CREATE SCHEMA IF NOT EXISTS "+quote(p.schema)); err != nil {
		return err
	}
	return p.checkTracksKey(ctx)
}

// checkTracksKey refuses a tracks table without a unique key on id (its
// primary key dropped by hand): that key keeps duplicates out of tracks
// and of every event table (see load), so without it a redelivery would
// add rows. The destination pauses (an AuthError) with what to do, and
// loads once the key is back.
func (p *postgres) checkTracksKey(ctx context.Context) error {
	var exists, keyed bool
	err := p.pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL,
		EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
			WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indnkeyatts = 1 AND i.indpred IS NULL AND a.attname = 'id')`,
		p.qualified(wh.TracksTable)).Scan(&exists, &keyed)
	if err != nil {
		return fmt.Errorf("checking the key of %s: %w", p.qualified(wh.TracksTable), err)
	}
	if exists && !keyed {
		return &destination.AuthError{Err: fmt.Errorf("warehouse: %[1]s has no unique key on id, which keeps duplicates out of it and of every event table; nothing is loaded until it is back: ALTER TABLE %[1]s ADD PRIMARY KEY (id) (delete duplicate ids first)",
			p.qualified(wh.TracksTable))}
	}
	return nil
}

// ddl runs statements in a transaction holding an advisory lock on the
// table: "IF NOT EXISTS" alone races between two bridges on one database
// (both insert the same catalogue row), the lock makes the second see the
// first's table.
func (p *postgres) ddl(ctx context.Context, table string, stmts ...string) error {
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", "statsig-bridge:"+p.schema+"."+table); err != nil {
		return err
	}
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

func (p *postgres) columns(ctx context.Context, table string) (map[string]wh.Type, error) {
	rows, err := p.pool.Query(ctx,
		`SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2`,
		p.schema, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols map[string]wh.Type
	binary := map[string]pgBinary{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, err
		}
		if cols == nil {
			cols = map[string]wh.Type{}
		}
		cols[name] = pgTypeOf(typ)
		binary[name] = pgBinaryOf(typ)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	p.binaryMu.Lock()
	p.binary[table] = binary
	p.binaryMu.Unlock()
	return cols, nil
}

// pgTypeOf reads a catalogue type back, including ones a user changed a
// column to (as Segment support does: integer → float, … → varchar).
func pgTypeOf(t string) wh.Type {
	switch t {
	case "boolean":
		return wh.Bool
	case "bigint", "integer", "smallint":
		return wh.Int
	case "double precision", "real", "numeric":
		return wh.Float
	case "timestamp with time zone", "timestamp without time zone":
		return wh.Timestamp
	}
	return wh.Text
}

// createTable makes a table; tracks and Segment's other tables
// (identifies, users) have id as their primary key, an event's table has
// no key of its own: its rows go in with their tracks rows, in the same
// transaction, and only those tracks takes (see load), so tracks's key
// keeps duplicates out of both, by id across every event table. A second
// index of random ids per event was a quarter of Postgres's CPU per event:
// its pages all over the index, each rewritten and logged whole after a
// checkpoint (BENCHMARKS.md, issue 13).
func (p *postgres) createTable(ctx context.Context, table string, cols []wh.Column) error {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s (", p.qualified(table))
	for i, c := range append(append([]wh.Column(nil), wh.StandardColumnsOf(table)...), cols...) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quote(c.Name) + " " + pgType(c.Type))
		if c.Name == "id" && wh.IsBuiltinTable(table) {
			b.WriteString(" PRIMARY KEY")
		}
	}
	b.WriteString(")")
	return p.ddl(ctx, table, b.String(), fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON %s (received_at)",
		quote(indexName(table)), p.qualified(table)))
}

// indexName is the received_at index of a table: "__" never appears in a
// table name, so it cannot be another table's name.
func indexName(table string) string { return wh.Ident(table + "__received_at") }

// derived implements dialect: Postgres loads every table.
func (p *postgres) derived(string) bool { return false }

func (p *postgres) addColumns(ctx context.Context, table string, cols []wh.Column) error {
	var b strings.Builder
	b.WriteString("ALTER TABLE " + p.qualified(table))
	for i, c := range cols {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(" ADD COLUMN IF NOT EXISTS " + quote(c.Name) + " " + pgType(c.Type))
	}
	return p.ddl(ctx, table, b.String())
}

// load first COPYs straight into the tables, tracks first (plan puts it
// there): the usual batch has only new ids. If one is already there (a
// redelivery: tracks's primary key refuses it, before any event table is
// written) the transaction is rolled back and the batch goes through
// temporary tables (copyMerge). Every batch takes tracks's keys first, so
// two loads of overlapping ids wait for each other there and never
// deadlock over the event tables.
func (p *postgres) load(ctx context.Context, batches []tableBatch) error {
	err := p.copyDirect(ctx, batches)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return p.copyMerge(ctx, batches)
	}
	return err
}

func (p *postgres) copyDirect(ctx context.Context, batches []tableBatch) error {
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	for _, b := range batches {
		var err error
		if b.copy != nil {
			_, err = tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(b.copy),
				"COPY "+p.qualified(b.table)+" ("+quoteList(b.cols)+") FROM STDIN BINARY")
		} else {
			_, err = tx.CopyFrom(ctx, pgx.Identifier{p.schema, b.table}, b.cols, pgx.CopyFromRows(b.rows))
		}
		if err != nil {
			return fmt.Errorf("loading %s: %w", b.table, err)
		}
	}
	return tx.Commit(ctx)
}

func quoteList(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = quote(c)
	}
	return strings.Join(q, ", ")
}

// copyMerge loads a batch holding ids already loaded: tracks takes the
// rows whose id it lacks (INSERT … ON CONFLICT (id) DO NOTHING), each
// event table exactly the rows of the ids tracks took, and identifies
// those it lacks by its own key. An event loaded again under another name
// (an experiment exposure read as a config exposure while the specs were
// not there yet) so adds no row to either table. An event table an
// earlier version made, with id its primary key, refuses a row it holds
// already (its tracks row deleted by hand, then the event loaded again):
// ON CONFLICT DO NOTHING skips it rather than failing the batch.
func (p *postgres) copyMerge(ctx context.Context, batches []tableBatch) error {
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	const added = "_bridge_added"
	if _, err := tx.Exec(ctx, "CREATE TEMP TABLE "+added+" (id text) ON COMMIT DROP"); err != nil {
		return fmt.Errorf("loading: %w", err)
	}
	// tracks first: the event tables take the ids it added.
	order := make([]int, 0, len(batches))
	for i, b := range batches {
		if b.table == wh.TracksTable {
			order = append(order, i)
		}
	}
	for i, b := range batches {
		if b.table != wh.TracksTable {
			order = append(order, i)
		}
	}
	for _, i := range order {
		b := batches[i]
		tmp := fmt.Sprintf("_bridge_load_%d", i)
		list := quoteList(b.cols)
		// tracks's and the event tables' temporary rows carry their id as
		// the bridge wrote it (_bridge_raw): an event row is matched to its
		// tracks row by that, whatever type a user gave either id column
		// (a uuid column reads an upper-case id back in lower case).
		keyed := wh.IsBuiltinTable(b.table) && b.table != wh.TracksTable
		cols, rows, extra := b.cols, b.rows, ""
		if !keyed {
			cols, rows, extra = append(slices.Clip(b.cols), "_bridge_raw"), withRawID(b), ", ''::text AS _bridge_raw"
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf("CREATE TEMP TABLE %s ON COMMIT DROP AS SELECT %s%s FROM %s WITH NO DATA",
			tmp, list, extra, p.qualified(b.table))); err != nil {
			return fmt.Errorf("loading %s: %w", b.table, err)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{tmp}, cols, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("loading %s: %w", b.table, err)
		}
		// A batch's ids are unique (WriteParsed keeps an id's first copy).
		var q string
		switch {
		case b.table == wh.TracksTable:
			q = fmt.Sprintf("WITH ins AS (INSERT INTO %s (%s) SELECT %s FROM %s ON CONFLICT (id) DO NOTHING RETURNING id) "+
				"INSERT INTO %s SELECT s._bridge_raw FROM %s s JOIN ins ON ins.id = s.id",
				p.qualified(b.table), list, list, tmp, added, tmp)
		case keyed: // identifies
			q = fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s ON CONFLICT (id) DO NOTHING", p.qualified(b.table), list, list, tmp)
		default:
			q = fmt.Sprintf("INSERT INTO %[1]s (%[2]s) SELECT %[2]s FROM %[3]s WHERE _bridge_raw IN (SELECT id FROM %[4]s) ON CONFLICT DO NOTHING",
				p.qualified(b.table), list, tmp, added)
		}
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("loading %s: %w", b.table, err)
		}
	}
	return tx.Commit(ctx)
}

// values strips NULs (see stripNUL), puts the rows in id order (byID)
// and, when every column has one of the types the warehouse creates,
// writes them as binary COPY data (b.copy); otherwise pgx's CopyFrom
// encodes b.rows.
func (p *postgres) values(b *tableBatch) {
	for _, row := range b.rows {
		stripNUL(row)
	}
	byID(b)
	b.copy = nil
	p.binaryMu.Lock()
	known := p.binary[b.table]
	p.binaryMu.Unlock()
	types := make([]pgBinary, len(b.cols))
	for i, c := range b.cols {
		if types[i] = known[c]; types[i] == pgNone {
			return
		}
	}
	data := appendCopyHeader(make([]byte, 0, 4<<10))
	for i, row := range b.rows {
		start := len(data)
		var err error
		if data, err = appendCopyRow(data, row, types); err != nil {
			return
		}
		if i == 0 {
			// Room for the rest at the first row's size and a quarter,
			// instead of growing (and copying) by doubling.
			data = slices.Grow(data, (len(data)-start)*len(b.rows)*5/4)
		}
	}
	b.copy = appendCopyTrailer(data)
}

// withRawID is b's rows each with its id appended, as the bridge wrote it.
func withRawID(b tableBatch) [][]any {
	i := slices.Index(b.cols, "id")
	out := make([][]any, len(b.rows))
	for j, row := range b.rows {
		out[j] = append(slices.Clip(row), row[i])
	}
	return out
}

// byID sorts a batch's rows by id. Two loads holding some ids in common
// (a redelivery beside the original, in batches of other log messages)
// then take the keys they share in the same order, so one waits for the
// other instead of each holding a key the other wants: in batch order,
// two such loads deadlocked, and each was rolled back and retried. The
// rows' types were inferred in batch order before (plan), so the first
// value of a batch still types a new column.
func byID(b *tableBatch) {
	i := slices.Index(b.cols, "id")
	if i < 0 {
		return
	}
	slices.SortFunc(b.rows, func(x, y []any) int {
		xs, _ := x[i].(string)
		ys, _ := y[i].(string)
		return strings.Compare(xs, ys)
	})
}

// stripNUL removes NUL characters, which Postgres text cannot hold (the
// batch would be refused for one character).
func stripNUL(row []any) {
	for i, v := range row {
		if s, ok := v.(string); ok && strings.IndexByte(s, 0) >= 0 {
			row[i] = strings.ReplaceAll(s, "\x00", "")
		}
	}
}

// classify: refused credentials or privileges pause the destination; data
// the database refuses (class 22 data exception, 23 constraint, 54 limits)
// is permanent, so the runner bisects to the bad event; a missing table or
// column means the catalogue changed under us; anything else (connection,
// shutdown, lock, serialisation) is retried.
func (p *postgres) classify(err error) (error, bool) {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err, false
	}
	switch {
	case strings.HasPrefix(pe.Code, "28"), pe.Code == "42501":
		return &destination.AuthError{Err: err}, false
	case pe.Code == "42P01", pe.Code == "42703", pe.Code == "3F000",
		// A column's type changed since the catalogue was read: the
		// binary COPY data no longer matches it.
		pe.Code == "22P03":
		return err, true
	case strings.HasPrefix(pe.Code, "22"), strings.HasPrefix(pe.Code, "23"), strings.HasPrefix(pe.Code, "54"):
		return &destination.PermanentError{Err: err, Response: pe.Code + " " + pe.Message}, false
	}
	return err, false
}
