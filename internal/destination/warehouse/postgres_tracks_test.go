package warehouse_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/statsig-bridge/statsig-bridge/internal/destination"
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

// TestPostgresEventTablesHaveNoKeyAndOneRowPerEvent: in a Postgres
// warehouse tracks keeps id as its primary key and the event tables have
// none, and each still holds one row per event when an event comes again,
// redelivered in a batch with new events (the temporary-table path) or
// resent with another receivedAt.
func TestPostgresEventTablesHaveNoKeyAndOneRowPerEvent(t *testing.T) {
	t.Parallel() // its own Postgres schema
	d := postgresDB(t)
	a, b := track("k1", "Signed Up", `{"plan":"pro"}`), track("k2", "page_view", `{}`)
	write(t, d.open(t), a, b)
	if got := primaryKeys(t, d); got != "tracks" {
		t.Errorf("tables with a primary key: %q, want tracks alone", got)
	}
	write(t, d.open(t), b, track("k3", "page_view", `{}`), a)
	write(t, d.open(t), resent(a), resent(b))
	write(t, d.open(t), track("k4", "Signed Up", `{}`), resent(b))
	counts(t, d, map[string]int{"tracks": 4, "signed_up": 2, "page_view": 2})
	if got := d.query(t, `SELECT count(*) FROM tracks t JOIN signed_up s USING (id, received_at)`)[0][0]; got != "2" {
		t.Errorf("%s of signed_up's rows are in tracks with their received_at, want 2", got)
	}
}

// TestPostgresEventTableWithAKeyLoadsAsBefore: an event table an earlier
// version made, with id its primary key, goes on loading: an event whose
// tracks row was deleted by hand and that is then resent goes back into
// tracks, and its table's key keeps the second copy out rather than
// failing the batch.
func TestPostgresEventTableWithAKeyLoadsAsBefore(t *testing.T) {
	t.Parallel() // its own Postgres schema
	d := postgresDB(t)
	a := track("e1", "Signed Up", `{"plan":"pro"}`)
	write(t, d.open(t), a, track("e2", "page_view", `{}`))
	d.query(t, `ALTER TABLE signed_up ADD PRIMARY KEY (id)`)
	d.query(t, `DELETE FROM tracks WHERE id = 'e1'`)
	write(t, d.open(t), resent(a), track("e3", "page_view", `{}`))
	write(t, d.open(t), a, track("e4", "Signed Up", `{}`))
	counts(t, d, map[string]int{"tracks": 4, "signed_up": 2, "page_view": 2})
}

// TestPostgresTracksIDOfAnotherTypeLoads: a user who changed tracks.id to
// uuid still has redeliveries loaded (the merge path compares ids as
// text).
func TestPostgresTracksIDOfAnotherTypeLoads(t *testing.T) {
	t.Parallel() // its own Postgres schema
	d := postgresDB(t)
	id := func(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }
	write(t, d.open(t), track(id(1), "Signed Up", `{}`), track(id(2), "page_view", `{}`))
	d.query(t, `ALTER TABLE tracks ALTER COLUMN id TYPE uuid USING id::uuid`)
	write(t, d.open(t), track(id(2), "page_view", `{}`), track(id(3), "Signed Up", `{}`))
	// An id in upper case: tracks reads it back in lower case.
	upper := "0000000A-0000-4000-8000-00000000000B"
	write(t, d.open(t), track(id(3), "Signed Up", `{}`), track(upper, "Signed Up", `{}`))
	counts(t, d, map[string]int{"tracks": 4, "signed_up": 3, "page_view": 1})
	if got := d.query(t, `SELECT count(*) FROM signed_up WHERE id = $1`, upper)[0][0]; got != "1" {
		t.Errorf("%s has %s rows in signed_up, want 1", upper, got)
	}
}

// TestPostgresTracksWithoutKeyPauses: a tracks table whose key was
// dropped by hand cannot keep duplicates out: the destination pauses
// (AuthError) saying how to put the key back, and loads once it is back.
func TestPostgresTracksWithoutKeyPauses(t *testing.T) {
	t.Parallel() // its own Postgres schema
	d := postgresDB(t)
	write(t, d.open(t), track("p1", "Signed Up", `{}`))
	d.query(t, `ALTER TABLE tracks DROP CONSTRAINT tracks_pkey`)
	w := d.open(t)
	err := w.Write(context.Background(), [][]byte{track("p1", "Signed Up", `{}`), track("p2", "Signed Up", `{}`)})
	var auth *destination.AuthError
	if !errors.As(err, &auth) || !strings.Contains(err.Error(), "ADD PRIMARY KEY (id)") {
		t.Fatalf("Write into tracks without its key: %v, want an AuthError saying how to add the key", err)
	}
	d.query(t, `ALTER TABLE tracks ADD PRIMARY KEY (id)`)
	write(t, w, track("p1", "Signed Up", `{}`), track("p2", "Signed Up", `{}`))
	counts(t, d, map[string]int{"tracks": 2, "signed_up": 2})
}

// TestPostgresOverlappingLoadsInOtherTableOrders: loads running at once
// with the same ids, their event tables first seen in different orders
// (a redelivery beside its original, in another worker), all complete:
// none deadlocks over the event tables, and each event has one row per
// table.
func TestPostgresOverlappingLoadsInOtherTableOrders(t *testing.T) {
	t.Parallel() // its own Postgres schema
	d := postgresDB(t)
	w := d.open(t)
	events := []string{"alpha", "beta", "gamma"}
	const writers, rounds, size = 6, 10, 120
	writeConcurrently(t, w, writers, rounds, func(g, r int) [][]byte {
		var batch [][]byte
		for k := range size {
			// The same events in every writer, each starting elsewhere
			// in the list: tables are first seen in another order than
			// in its neighbour's batch.
			i := (k + g*size/writers) % size
			batch = append(batch, track(fmt.Sprintf("o%d-%d", r, i), events[i%len(events)], `{}`))
		}
		return batch
	})
	counts(t, d, map[string]int{"tracks": rounds * size, "alpha": rounds * size / 3, "beta": rounds * size / 3, "gamma": rounds * size / 3})
}
