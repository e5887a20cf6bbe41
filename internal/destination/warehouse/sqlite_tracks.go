package warehouse

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	wh "github.com/statsig-bridge/statsig-bridge/internal/warehouse"
)

// In a SQLite warehouse this version creates, `tracks` is a view over the
// event tables rather than a table of its own.
//
// Segment's warehouses write every Track twice: a row in tracks and the
// same standard and context columns again in the event's table. In
// SQLite, with one writer, that second row was a third of the loader's
// work (its own b-tree, its received_at index, its values bound and its
// pages in the write-ahead log) and 43 % of the file, for data the event
// table holds already. The view gives the same answer: one row per event
// with exactly tracks's columns (the standard ones plus every context_*
// column of any event table, NULL where an event's table has none), the
// same ids and values; queries through it use each event table's
// received_at index.
//
// The view's first arm is tracksColumnsTable, an empty table holding
// tracks's columns with their declared types: a view's columns take the
// types of its first arm, so PRAGMA table_info(tracks) reads as the table
// did, and the writer adds tracks's context columns to it as it would to a
// table. Each event table's context column gets the type it has here
// (Writer.plan), so the view holds what a tracks table would.
//
// The view is rebuilt inside the first load transaction that finds the
// catalogue changed since it was last made (PRAGMA schema_version: new
// event tables or context columns, and anyone's DDL, a dropped table
// included), from the catalogue as that transaction sees it: once per load
// however many tables the load's batches created, before any row of a new
// table commits, and with the write lock held, so two bridges on one file
// cannot leave it short of a table.
//
// A warehouse an earlier version made keeps its tracks table and loads it
// as before. An earlier version cannot load a file with the view (it would
// insert into it): no downgrade, as with the ledger (README).
const tracksColumnsTable = "_bridge_tracks_columns"

// errStaleCatalogue marks an error after which the writer forgets what it
// knows of the tables and sets up again (sqliteDB.classify).
var errStaleCatalogue = errors.New("the catalogue changed")

// sqliteMaxArms keeps each compound SELECT of the view under SQLite's
// default limit of 500 terms: beyond it the event tables are grouped in
// subqueries of this many.
const sqliteMaxArms = 400

// tracksMode decides how this database holds tracks (see above) and, for
// a new one, makes the view. Called by setup once the ledger is decided:
// a warehouse keyed by id is an earlier version's and keeps its table.
func (s *sqliteDB) tracksMode(ctx context.Context) error {
	if !s.ledger.Load() {
		s.tracksView.Store(false)
		return nil
	}
	var kind string
	err := s.db.QueryRowContext(ctx, "SELECT type FROM sqlite_schema WHERE name = ?", wh.TracksTable).Scan(&kind)
	switch {
	case err == sql.ErrNoRows:
		if err := s.createTracksView(ctx, nil); err != nil {
			return fmt.Errorf("creating the tracks view: %w", err)
		}
		kind = "view"
	case err != nil:
		return fmt.Errorf("reading the tracks table: %w", err)
	}
	s.tracksView.Store(kind == "view")
	s.viewAt.Store(0) // rebuilt by the next load
	return nil
}

// freshTracksView rebuilds the view in tx, a load's transaction, when the
// catalogue changed since it was made. It returns the schema version to
// record once tx commits, 0 for none.
func (s *sqliteDB) freshTracksView(ctx context.Context, tx *sql.Tx) (int64, error) {
	if !s.tracksView.Load() {
		return 0, nil
	}
	var v int64
	if err := tx.QueryRowContext(ctx, "PRAGMA schema_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("reading the schema version: %w", err)
	}
	if v == s.viewAt.Load() {
		return 0, nil
	}
	if err := rebuildTracksView(ctx, tx); err != nil {
		// Someone changed the catalogue (dropped the column list, made
		// tracks a table): the writer reads it again (classify).
		return 0, fmt.Errorf("rebuilding the tracks view: %w: %w", errStaleCatalogue, err)
	}
	if err := tx.QueryRowContext(ctx, "PRAGMA schema_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("reading the schema version: %w", err)
	}
	return v, nil
}

// createTracksView makes tracksColumnsTable with tracks's standard columns
// plus cols, and the view.
func (s *sqliteDB) createTracksView(ctx context.Context, cols []wh.Column) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, s.createTableQuery(tracksColumnsTable, append(append([]wh.Column(nil), wh.StandardColumns...), cols...))); err != nil {
		return err
	}
	// Another bridge may have made it between our read and our write.
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE name = ?", wh.TracksTable).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		if err := rebuildTracksView(ctx, tx); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// derived reports whether table's rows are not loaded but derived by the
// database (tracks as a view).
func (s *sqliteDB) derived(table string) bool {
	return table == wh.TracksTable && s.tracksView.Load()
}

// physical is the table that holds table's columns: tracksColumnsTable
// for the tracks view.
func (s *sqliteDB) physical(table string) string {
	if s.derived(table) {
		return tracksColumnsTable
	}
	return table
}

// feedsTracks reports whether table is an event table: a table the tracks
// view reads.
func feedsTracks(table string) bool {
	return !wh.IsBuiltinTable(table) && !strings.HasPrefix(table, "_bridge_") && !strings.HasPrefix(table, "sqlite_")
}

// rebuildTracksView replaces the tracks view with one over every event
// table tx sees.
func rebuildTracksView(ctx context.Context, tx *sql.Tx) error {
	q, err := tracksViewQuery(ctx, tx)
	if err == nil && q == "" {
		err = fmt.Errorf("%s is missing", tracksColumnsTable)
	}
	if err != nil {
		return fmt.Errorf("reading the event tables: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "DROP VIEW IF EXISTS "+quote(wh.TracksTable)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "CREATE VIEW "+quote(wh.TracksTable)+" AS "+q); err != nil {
		return fmt.Errorf("creating the tracks view: %w", err)
	}
	return nil
}

// tracksViewQuery is the view's SELECT: tracksColumnsTable's columns from
// it (no rows) and from every event table, NULL where one has no such
// column. The catalogue is read in one query: with many event tables, a
// query per table made every rebuild slow.
func tracksViewQuery(ctx context.Context, tx *sql.Tx) (string, error) {
	cols, err := orderedColumns(ctx, tx, tracksColumnsTable)
	if err != nil || len(cols) == 0 {
		return "", err
	}
	indexes := map[string]bool{}
	irows, err := tx.QueryContext(ctx, "SELECT name FROM sqlite_schema WHERE type = 'index'")
	if err != nil {
		return "", err
	}
	for irows.Next() {
		var name string
		if err := irows.Scan(&name); err != nil {
			irows.Close()
			return "", err
		}
		indexes[name] = true
	}
	irows.Close()
	if err := irows.Err(); err != nil {
		return "", err
	}
	rows, err := tx.QueryContext(ctx, `SELECT m.name, c.name FROM sqlite_schema m, pragma_table_info(m.name) c
		WHERE m.type = 'table' ORDER BY m.name`)
	if err != nil {
		return "", err
	}
	var tables []string
	has := map[string]map[string]bool{}
	for rows.Next() {
		var table, col string
		if err := rows.Scan(&table, &col); err != nil {
			rows.Close()
			return "", err
		}
		if !feedsTracks(table) {
			continue
		}
		if has[table] == nil {
			has[table] = map[string]bool{}
			tables = append(tables, table)
		}
		has[table][col] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", err
	}
	// A table of the user's own in the file is no event table, a copy of
	// one (CREATE TABLE … AS SELECT) included: every event table has every
	// standard column and the received_at index createTable made.
	tables = slices.DeleteFunc(tables, func(t string) bool {
		return !indexes[indexName(t)] || slices.ContainsFunc(wh.StandardColumns, func(c wh.Column) bool { return !has[t][c.Name] })
	})
	arm := func(table string) string {
		var b strings.Builder
		b.WriteString("SELECT ")
		for i, c := range cols {
			if i > 0 {
				b.WriteString(", ")
			}
			if table == tracksColumnsTable || has[table][c] {
				// Qualified: a column dropped since (ALTER TABLE … DROP
				// COLUMN) is then an error, where SQLite reads an
				// unqualified quoted name it cannot find as a string.
				b.WriteString(quote(table) + "." + quote(c))
			} else {
				b.WriteString("NULL AS " + quote(c))
			}
		}
		b.WriteString(" FROM " + quote(table))
		return b.String()
	}
	var q strings.Builder
	q.WriteString(arm(tracksColumnsTable))
	for start := 0; start < len(tables); start += sqliteMaxArms {
		group := tables[start:min(start+sqliteMaxArms, len(tables))]
		arms := make([]string, len(group))
		for i, t := range group {
			arms[i] = arm(t)
		}
		if len(tables) <= sqliteMaxArms {
			q.WriteString(" UNION ALL " + strings.Join(arms, " UNION ALL "))
		} else {
			q.WriteString(" UNION ALL SELECT * FROM (" + strings.Join(arms, " UNION ALL ") + ")")
		}
	}
	return q.String(), nil
}

// orderedColumns is table's column names in table order.
func orderedColumns(ctx context.Context, tx *sql.Tx, table string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, "SELECT name FROM pragma_table_info(?) ORDER BY cid", table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		cols = append(cols, c)
	}
	return cols, rows.Err()
}
