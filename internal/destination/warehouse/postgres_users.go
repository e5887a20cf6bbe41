package warehouse

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// upsert implements dialect: COPY into a temporary table, then INSERT …
// SELECT … ON CONFLICT (id) DO UPDATE (ids are unique within b).
func (p *postgres) upsert(ctx context.Context, b tableBatch) error {
	for _, row := range b.rows {
		stripNUL(row)
	}
	byID(&b)
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	cols := make([]string, len(b.cols))
	for j, c := range b.cols {
		cols[j] = quote(c)
	}
	list := strings.Join(cols, ", ")
	const tmp = "_bridge_upsert"
	if _, err := tx.Exec(ctx, fmt.Sprintf("CREATE TEMP TABLE %s ON COMMIT DROP AS SELECT %s FROM %s WITH NO DATA", tmp, list, p.qualified(b.table))); err != nil {
		return err
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{tmp}, b.cols, pgx.CopyFromRows(b.rows)); err != nil {
		return err
	}
	// The target is named by its alias in SET and WHERE.
	if _, err := tx.Exec(ctx, fmt.Sprintf("INSERT INTO %s AS t (%s) SELECT %s FROM %s%s",
		p.qualified(b.table), list, list, tmp, upsertSet(b, "t", quote))); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
