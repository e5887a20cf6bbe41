package warehouse_test

import (
	"strings"
	"testing"
)

// primaryKeys lists the tables of d's schema with a primary key.
func primaryKeys(t *testing.T, d *db) string {
	t.Helper()
	var out []string
	for _, r := range d.query(t, `SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE i.indisprimary AND n.nspname = $1 ORDER BY 1`, d.cfg.Schema) {
		out = append(out, r[0])
	}
	return strings.Join(out, ",")
}

// counts checks the rows of each table.
func counts(t *testing.T, d *db, want map[string]int) {
	t.Helper()
	for table, n := range want {
		if got := d.count(t, table); got != n {
			t.Errorf("%s has %d rows, want %d", table, got, n)
		}
	}
}

// TestPostgresTracksHasNoKeyAndOneRowPerEvent: a Postgres warehouse's
// tracks has no primary key (its event tables keep theirs), and still
// holds one row per event when an event comes again, redelivered in a
// batch with new events (the temporary-table path) or resent with another
// receivedAt.
func TestPostgresTracksHasNoKeyAndOneRowPerEvent(t *testing.T) {
	t.Parallel() // its own Postgres schema
	d := postgresDB(t)
	a, b := track("k1", "Signed Up", `{"plan":"pro"}`), track("k2", "page_view", `{}`)
	write(t, d.open(t), a, b)
	if got := primaryKeys(t, d); got != "page_view,signed_up" {
		t.Errorf("tables with a primary key: %q, want the event tables and not tracks", got)
	}
	write(t, d.open(t), b, track("k3", "page_view", `{}`), a)
	write(t, d.open(t), resent(a), resent(b))
	write(t, d.open(t), track("k4", "Signed Up", `{}`), resent(b))
	counts(t, d, map[string]int{"tracks": 4, "signed_up": 2, "page_view": 2})
	if got := d.query(t, `SELECT count(*) FROM tracks t JOIN signed_up s USING (id, received_at)`)[0][0]; got != "2" {
		t.Errorf("%s of signed_up's rows are in tracks with their received_at, want 2", got)
	}
}

// TestPostgresTracksWithAKeyLoadsAsBefore: a tracks table an earlier
// version made, with id its primary key, goes on loading: an event whose
// event-table row was deleted by hand and then resent (another receivedAt)
// goes back into its table, and tracks's key keeps its second copy out
// rather than failing the batch.
func TestPostgresTracksWithAKeyLoadsAsBefore(t *testing.T) {
	t.Parallel() // its own Postgres schema
	d := postgresDB(t)
	a := track("e1", "Signed Up", `{"plan":"pro"}`)
	write(t, d.open(t), a, track("e2", "page_view", `{}`))
	d.query(t, `ALTER TABLE tracks ADD PRIMARY KEY (id)`)
	d.query(t, `DELETE FROM signed_up WHERE id = 'e1'`)
	write(t, d.open(t), resent(a), track("e3", "page_view", `{}`))
	write(t, d.open(t), a, track("e4", "Signed Up", `{}`))
	counts(t, d, map[string]int{"tracks": 4, "signed_up": 2, "page_view": 2})
}
