package warehouse

import (
	"context"
	"fmt"
	"strings"

	wh "github.com/statsig-bridge/statsig-bridge/internal/warehouse"
)

// parseMessage reads a Track or an Identify message into its row.
func parseMessage(p []byte) (wh.Row, error) {
	if wh.IsIdentify(p) {
		return wh.ParseIdentify(p)
	}
	return wh.ParseTrack(p)
}

// eventColumn is a row's `event` column: its table, NULL for an identify
// and a user.
func eventColumn(r *wh.Row) any {
	if e, ok := eventName(r); ok {
		return e
	}
	return nil
}

// eventName is the text of a row's `event` column, false where it is NULL.
func eventName(r *wh.Row) (string, bool) {
	return r.Table, r.Table != wh.IdentifiesTable && r.Table != wh.UsersTable
}

// loadUsers upserts the users table from the batch's identifies with a
// user_id: one row per user, id = user_id, the latest traits as columns
// (a trait an identify leaves out keeps its value). It runs after the
// batch's transaction: a failure fails the batch, whose retry loads
// nothing twice (ids) and upserts again, which changes nothing when done.
func (w *Writer) loadUsers(ctx context.Context, rows []wh.Row) error {
	latest := map[string]int{}
	var order []string
	for i := range rows {
		r := &rows[i]
		if r.Table != wh.IdentifiesTable || r.UserID == "" {
			continue
		}
		j, ok := latest[r.UserID]
		if !ok {
			order = append(order, r.UserID)
		}
		if !ok || !r.Timestamp.Before(rows[j].Timestamp) {
			latest[r.UserID] = i
		}
	}
	if len(order) == 0 {
		return nil
	}
	t := &want{name: wh.UsersTable, index: map[string]int{}}
	users := make([]wh.Row, len(order))
	for k, id := range order {
		src := rows[latest[id]]
		users[k] = wh.Row{ID: id, UserID: id, Table: wh.UsersTable, ReceivedAt: src.ReceivedAt, SentAt: src.SentAt,
			Timestamp: src.Timestamp, OriginalTimestamp: src.OriginalTimestamp, Properties: src.Properties}
		t.rows = append(t.rows, &users[k])
		for _, f := range src.Properties {
			t.add(f)
		}
	}
	cols, err := w.ensure(ctx, t.name, t.cols)
	if err != nil {
		return err
	}
	b := w.rowsOf(t, cols, true, w.cfg.Now().UTC())
	if err := w.db.upsert(ctx, b); err != nil {
		return fmt.Errorf("loading %s: %w", wh.UsersTable, err)
	}
	return nil
}

// upsertSet is the SET and WHERE of an upsert of b into table (quoted, as
// the statement names it): each column takes the new value unless it is
// NULL; a row older (timestamp) than the stored one changes nothing, so a
// redelivered old identify does not undo newer traits.
func upsertSet(b tableBatch, table string, quote func(string) string) string {
	var set []string
	for _, c := range b.cols {
		if c == "id" {
			continue
		}
		q := quote(c)
		set = append(set, fmt.Sprintf("%s = COALESCE(excluded.%s, %s.%s)", q, q, table, q))
	}
	ts := quote("timestamp")
	return " ON CONFLICT (id) DO UPDATE SET " + strings.Join(set, ", ") +
		fmt.Sprintf(" WHERE %s.%s IS NULL OR excluded.%s >= %s.%s", table, ts, ts, table, ts)
}
