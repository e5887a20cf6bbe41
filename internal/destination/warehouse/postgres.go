package warehouse

import (
	"context"
	"errors"
	"fmt"
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
