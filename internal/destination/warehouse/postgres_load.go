package warehouse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	wh "github.com/statsig-bridge/statsig-bridge/internal/warehouse"
)

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
