package warehouse

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	wh "github.com/statsig-bridge/statsig-bridge/internal/warehouse"
)

// The loaded-events ledger keeps duplicates out of a SQLite warehouse in
// place of a primary key on each table's id.
//
// Every Track event adds a row to its event table, and to tracks where
// tracks is a table, with id = messageId, a random UUID. A primary key on
// id made every commit rewrite pages all over two random-keyed indexes
// (≈ 45 bytes an entry), and on this kind of machine the write-ahead log
// frames of those pages were a quarter of the loader's CPU (BENCHMARKS.md,
// issue 13). The
// ledger has one 64-bit hash of the id per event, an integer key a few
// bytes long: a third of the pages of one such index, and none in the
// event tables.
//
// It is keyed by messageId, not by where the message came from in the log:
// an SDK resending a batch in a new envelope (node-core) gives the same
// events the same ids in another log message, and a redriven dead letter
// comes from another stream; both must add no rows, as the primary key
// guaranteed. A hash can collide, so a hash already present is checked
// against the rows themselves: the ledger keeps the received_at of the
// event that took the hash, and the received_at index finds that event's
// row; an id whose hash was taken by another id is kept whole in
// loadedCollisionsTable. Nothing is dropped on a hash alone.
const (
	loadedTable           = "_bridge_loaded"
	loadedCollisionsTable = "_bridge_loaded_collisions"
)

// loadedDDL makes the ledger. Event tables cannot take these names: a
// table name from an event never starts with "_" (wh.Snake).
var loadedDDL = []string{
	`CREATE TABLE IF NOT EXISTS ` + loadedTable + ` (h INTEGER PRIMARY KEY, received_at INTEGER)`,
	`CREATE TABLE IF NOT EXISTS ` + loadedCollisionsTable + ` (family TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (family, id)) WITHOUT ROWID`,
}

// loadedKey is the ledger's key of an event: FNV-1a (64 bits) of its
// family and id. A variable so tests can make every key collide.
var loadedKey = func(family, id string) int64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(family); i++ {
		h = (h ^ uint64(family[i])) * 1099511628211
	}
	h *= 1099511628211 // a 0 byte between family and id
	for i := 0; i < len(id); i++ {
		h = (h ^ uint64(id[i])) * 1099511628211
	}
	return int64(h)
}

// ledgerRowsPerInsert is the events of one ledger INSERT.
const ledgerRowsPerInsert = 128

// ledgerStmts are the ledger's prepared statements (prepared before the
// load's transaction takes the one connection).
type ledgerStmts struct {
	full          *sql.Stmt // INSERT of ledgerRowsPerInsert events
	fullReturning *sql.Stmt // the same, RETURNING the hashes it added
	one           *sql.Stmt // INSERT of one event RETURNING its hash
	owner         *sql.Stmt // the received_at of the event that took a hash
	collision     *sql.Stmt // INSERT into the collisions table RETURNING 1
}

func (s *sqliteDB) ledgerStmts(ctx context.Context) (*ledgerStmts, error) {
	insert := func(n int, returning string) func() string {
		return func() string {
			return "INSERT INTO " + loadedTable + " (h, received_at) VALUES " +
				strings.TrimSuffix(strings.Repeat("(?,?),", n), ",") + " ON CONFLICT DO NOTHING" + returning
		}
	}
	var l ledgerStmts
	var err error
	if l.full, err = s.prepare(ctx, "\x00ledger full", insert(ledgerRowsPerInsert, "")); err != nil {
		return nil, err
	}
	if l.fullReturning, err = s.prepare(ctx, "\x00ledger full returning", insert(ledgerRowsPerInsert, " RETURNING h")); err != nil {
		return nil, err
	}
	if l.one, err = s.prepare(ctx, "\x00ledger one", insert(1, " RETURNING h")); err != nil {
		return nil, err
	}
	if l.owner, err = s.prepare(ctx, "\x00ledger owner", func() string {
		return "SELECT received_at FROM " + loadedTable + " WHERE h = ?"
	}); err != nil {
		return nil, err
	}
	if l.collision, err = s.prepare(ctx, "\x00ledger collision", func() string {
		return "INSERT INTO " + loadedCollisionsTable + " (family, id) VALUES (?, ?) ON CONFLICT DO NOTHING RETURNING 1"
	}); err != nil {
		return nil, err
	}
	return &l, nil
}

// family is the table whose rows stand for an event of table: its tracks
// row for an event table's row.
func family(table string) string {
	if table == wh.IdentifiesTable {
		return table
	}
	return wh.TracksTable
}

// loadedEvent is an event of the load, by family and id.
type loadedEvent struct{ family, id string }

// newRows records the events of batches in the ledger and returns the
// batches without the rows of events loaded before (in an earlier
// transaction or earlier in this one), inside the load's transaction tx.
//
// An event's entry is made from its family's row, or from its event
// table's row where tracks is a view (tracksView): the key and received_at
// are the same.
func (l *ledgerStmts) newRows(ctx context.Context, tx *sql.Tx, batches []tableBatch, tracksView bool) ([]tableBatch, error) {
	type pending struct {
		ev         loadedEvent
		h          int64
		receivedAt any // int64 ms or nil
		// rows is the table whose rows a present hash is checked
		// against: the family's, or the event's own table where tracks
		// is a view (one index read, not one per event table).
		rows string
	}
	var events []pending
	for _, b := range batches {
		if b.table != family(b.table) && !(tracksView && feedsTracks(b.table)) {
			continue
		}
		fam := family(b.table)
		ra := colIndex(b.cols, "received_at")
		for _, row := range b.rows {
			id, _ := row[0].(string)
			var ms any // NULL: no received_at
			if ra >= 0 {
				if t, ok := row[ra].(time.Time); ok {
					// Whole milliseconds rounded down, as the row's text
					// (timeFormat) has them, before 1970 too.
					ms = t.Unix()*1000 + int64(t.Nanosecond()/1e6)
				}
			}
			rows := fam
			if tracksView {
				rows = b.table
			}
			events = append(events, pending{ev: loadedEvent{fam, id}, h: loadedKey(fam, id), receivedAt: ms, rows: rows})
		}
	}
	// Rows of one event in two Writes of a group: the first stays.
	seen := make(map[loadedEvent]bool, len(events))
	fresh := make(map[int64]bool, len(events))
	var args []any
	returning := func(st *sql.Stmt) error {
		rs, err := tx.StmtContext(ctx, st).QueryContext(ctx, args...)
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			var h int64
			if err := rs.Scan(&h); err != nil {
				return err
			}
			fresh[h] = true
		}
		return rs.Err()
	}
	// full adds a whole INSERT's events. Most are new: when it adds them
	// all, every hash is fresh, known without reading a row back (RETURNING
	// through database/sql cost more than the INSERT); otherwise it is
	// undone and run again RETURNING the hashes it adds.
	full := func() error {
		if _, err := tx.ExecContext(ctx, "SAVEPOINT ledger"); err != nil {
			return err
		}
		res, err := tx.StmtContext(ctx, l.full).ExecContext(ctx, args...)
		if err != nil {
			return err
		}
		added, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if added == ledgerRowsPerInsert {
			for i := 0; i < len(args); i += 2 {
				fresh[args[i].(int64)] = true
			}
		} else {
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO ledger"); err != nil {
				return err
			}
			if err := returning(l.fullReturning); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, "RELEASE ledger")
		return err
	}
	unique := events[:0]
	for _, e := range events {
		if seen[e.ev] {
			continue
		}
		seen[e.ev] = true
		unique = append(unique, e)
		args = append(args, e.h, e.receivedAt)
		if len(args) == 2*ledgerRowsPerInsert {
			if err := full(); err != nil {
				return nil, err
			}
			args = args[:0]
		}
	}
	rest := args
	for i := 0; i < len(rest); i += 2 {
		args = rest[i : i+2]
		if err := returning(l.one); err != nil {
			return nil, err
		}
	}
	// A hash present already: the same event loaded before, or another id
	// with the same hash, checked against the rows of the event that took
	// the hash, found by that event's received_at: one read of the
	// received_at index per log message, not per event (a redelivered or
	// replayed log message comes back with all its events). A hash new to
	// the ledger is the first of its events' (the one whose received_at it
	// took); a second event with it in this load is checked like any.
	type rowsAt struct {
		table      string
		receivedAt any // as in the rows: text, or nil
	}
	present := map[rowsAt]map[string]bool{}
	loaded := map[loadedEvent]bool{}
	for _, e := range unique {
		if fresh[e.h] {
			delete(fresh, e.h)
			continue
		}
		ra, err := l.takenAt(ctx, tx, e.h)
		if err != nil {
			return nil, err
		}
		at := rowsAt{e.rows, ra}
		ids, ok := present[at]
		if !ok {
			if ids, err = idsAt(ctx, tx, at.table, at.receivedAt); err != nil {
				return nil, err
			}
			present[at] = ids
		}
		if !ids[e.ev.id] && e.rows != e.ev.family {
			// Not in its own table: it may have been loaded under
			// another name (an event's name, and so its table, comes
			// from the mapping at delivery, which can change between
			// two deliveries of one event), so every table of its family
			// (the tracks view: a read per event table, on this rare
			// path only).
			at = rowsAt{e.ev.family, ra}
			if ids, ok = present[at]; !ok {
				if ids, err = idsAt(ctx, tx, at.table, at.receivedAt); err != nil {
					return nil, err
				}
				present[at] = ids
			}
		}
		if ids[e.ev.id] {
			loaded[e.ev] = true
			continue
		}
		added, err := l.collides(ctx, tx, e.ev)
		if err != nil {
			return nil, err
		}
		if !added {
			loaded[e.ev] = true
		}
	}
	// One row per table and id across the whole transaction: the Writes
	// of a group commit can carry the same event (an SDK resend or a
	// redelivery racing the original), each in its own batch of a table.
	rows := map[tableRow]bool{}
	out := batches[:0:0]
	for _, b := range batches {
		out = append(out, without(b, loaded, rows))
	}
	return out, nil
}

// tableRow is a row of the load, by table and id.
type tableRow struct{ table, id string }

// eventTables is the table of every event table's rows in a tableRow: no
// table has its name ("" is none's).
const eventTables = ""

// takenAt is the received_at, as the rows hold it, of the event that took
// hash h in the ledger.
func (l *ledgerStmts) takenAt(ctx context.Context, tx *sql.Tx, h int64) (any, error) {
	var ms sql.NullInt64
	if err := tx.StmtContext(ctx, l.owner).QueryRowContext(ctx, h).Scan(&ms); err != nil {
		return nil, fmt.Errorf("reading the ledger: %w", err)
	}
	if !ms.Valid {
		return nil, nil
	}
	return time.UnixMilli(ms.Int64).UTC().Format(timeFormat), nil
}

// idsAt returns the ids of table's rows received at receivedAt (text, or
// nil for none), through the received_at index.
func idsAt(ctx context.Context, tx *sql.Tx, table string, receivedAt any) (map[string]bool, error) {
	rs, err := tx.QueryContext(ctx, fmt.Sprintf("SELECT id FROM %s WHERE received_at IS ?", quote(table)), receivedAt)
	if err != nil {
		return nil, fmt.Errorf("reading the ids of %s received at %v: %w", table, receivedAt, err)
	}
	defer rs.Close()
	ids := map[string]bool{}
	for rs.Next() {
		var id string
		if err := rs.Scan(&id); err != nil {
			return nil, fmt.Errorf("reading the ids of %s received at %v: %w", table, receivedAt, err)
		}
		ids[id] = true
	}
	return ids, rs.Err()
}

// collides records ev, whose hash another event took, in the collisions
// table; false when it was there already (loaded before).
func (l *ledgerStmts) collides(ctx context.Context, tx *sql.Tx, ev loadedEvent) (bool, error) {
	rs, err := tx.StmtContext(ctx, l.collision).QueryContext(ctx, ev.family, ev.id)
	if err != nil {
		return false, fmt.Errorf("recording a hash collision: %w", err)
	}
	defer rs.Close()
	added := rs.Next()
	if err := rs.Err(); err != nil {
		return false, fmt.Errorf("recording a hash collision: %w", err)
	}
	return added, nil
}

// without returns b without the rows of loaded events and without a row
// whose table and id came earlier in the transaction (seen, which it
// extends): two Writes of a group carrying the same event.
func without(b tableBatch, loaded map[loadedEvent]bool, seen map[tableRow]bool) tableBatch {
	fam := family(b.table)
	// One event in two event tables (two Writes of a group mapping it
	// under two names) would be two event-table rows (and, where tracks
	// is a view, two tracks rows): the event tables count as one table.
	rowTable := b.table
	if feedsTracks(b.table) {
		rowTable = eventTables
	}
	n := len(b.cols)
	keep := b.rows[:0:0]
	var args []any
	for i, row := range b.rows {
		id, _ := row[0].(string)
		key := tableRow{rowTable, id}
		if seen[key] || loaded[loadedEvent{fam, id}] {
			if args == nil {
				keep = append(keep, b.rows[:i]...)
				args = append(make([]any, 0, len(b.args)), b.args[:i*n]...)
			}
			continue
		}
		seen[key] = true
		if args != nil {
			keep = append(keep, row)
			args = append(args, b.args[i*n:(i+1)*n]...)
		}
	}
	if args == nil {
		return b
	}
	b.rows, b.args = keep, args
	return b
}

func colIndex(cols []string, name string) int {
	for i, c := range cols {
		if c == name {
			return i
		}
	}
	return -1
}
