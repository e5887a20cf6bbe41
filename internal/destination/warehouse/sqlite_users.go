package warehouse

import (
	"context"
	"fmt"
	"strings"
)

// upsert implements dialect: INSERT … ON CONFLICT (id) DO UPDATE, a
// statement per chunk of rows (ids are unique within b).
func (s *sqliteDB) upsert(ctx context.Context, b tableBatch) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	cols := make([]string, len(b.cols))
	for j, c := range b.cols {
		cols[j] = quote(c)
	}
	head := fmt.Sprintf("INSERT INTO %s (%s) VALUES ", quote(b.table), strings.Join(cols, ", "))
	tail := upsertSet(b, quote(b.table), quote)
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?,", len(b.cols)), ",") + ")"
	per := max(1, min(500, sqliteMaxVars/len(b.cols)))
	var args []any
	for start := 0; start < len(b.rows); start += per {
		chunk := b.rows[start:min(start+per, len(b.rows))]
		var q strings.Builder
		q.WriteString(head)
		args = args[:0]
		for i, row := range chunk {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString(tuple)
			for _, v := range row {
				args = append(args, sqliteValue(v))
			}
		}
		q.WriteString(tail)
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return err
		}
	}
	return tx.Commit()
}
