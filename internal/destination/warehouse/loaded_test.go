package warehouse_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/statsig-bridge/statsig-bridge/internal/destination/warehouse"
)

// resent is msg as received again later: an SDK resending the batch in a
// new envelope gives its events the same messageIds and a new receivedAt.
func resent(msg []byte) []byte { return receivedAt(msg, "2025-01-02T09:00:00.000Z") }

// receivedAt is msg (made by track) received at ts.
func receivedAt(msg []byte, ts string) []byte {
	return []byte(strings.Replace(string(msg), `"receivedAt":"2025-01-02T03:04:06.000Z"`, `"receivedAt":"`+ts+`"`, 1))
}

// TestResentEventAddsNoRows: an event received twice (same messageId, another
// receivedAt, so another log message) adds no rows the second time, as
// Segment's warehouses dedupe on id.
func TestResentEventAddsNoRows(t *testing.T) {
	t.Parallel() // its own SQLite file and Postgres schema
	eachDB(t, func(t *testing.T, d *db) {
		a, b := track("s1", "Signed Up", `{"plan":"pro"}`), track("s2", "page_view", `{}`)
		write(t, d.open(t), a, b)
		write(t, d.open(t), resent(a), resent(b), track("s3", "page_view", `{}`))
		counts(t, d, map[string]int{"tracks": 3, "page_view": 2})
	})
}

// TestLedgerHashCollisionsLoseNothing makes every event's ledger key the
// same: each distinct event is still loaded once, and none twice when it
// comes again, in the same log message or another.
func TestLedgerHashCollisionsLoseNothing(t *testing.T) {
	defer warehouse.SetLoadedKey(func(string, string) int64 { return 42 })()
	d := sqliteDB(t)
	// c4 comes with a receivedAt of its own in the load where c1 takes the
	// key they share, later with another.
	c4 := receivedAt(track("c4", "page_view", `{}`), "2025-01-02T07:00:00.000Z")
	first := [][]byte{track("c1", "Signed Up", `{}`), track("c2", "Signed Up", `{}`), track("c3", "page_view", `{}`), c4}
	write(t, d.open(t), first...)
	write(t, d.open(t), first...)
	write(t, d.open(t), resent(first[1]), receivedAt(track("c4", "page_view", `{}`), "2025-01-02T09:00:00.000Z"), track("c5", "Signed Up", `{}`))
	write(t, d.open(t), c4, track("c5", "Signed Up", `{}`))
	want := map[string]int{"tracks": 5, "signed_up": 3, "page_view": 2}
	for table, n := range want {
		if got := d.count(t, table); got != n {
			t.Errorf("%s has %d rows, want %d", table, got, n)
		}
	}
	if got := d.query(t, "SELECT count(*) FROM _bridge_loaded")[0][0]; got != "1" {
		t.Errorf("the ledger has %s hashes, want the 1 they all share", got)
	}
}

// TestNewSQLiteWarehouseHasNoIndexOnID: tables a new warehouse makes have
// no index on id (the ledger keeps duplicates out), only received_at's;
// users keeps its primary key (upserts by id).
func TestNewSQLiteWarehouseHasNoIndexOnID(t *testing.T) {
	t.Parallel()
	d := sqliteDB(t)
	write(t, d.open(t), track("n1", "Signed Up", `{}`))
	for _, table := range []string{"tracks", "signed_up"} {
		for _, r := range d.query(t, "SELECT i.name, c.name FROM pragma_index_list(?) i, pragma_index_info(i.name) c", table) {
			if r[1] != "received_at" {
				t.Errorf("%s has index %s on %s, want only received_at's", table, r[0], r[1])
			}
		}
	}
}

// TestEarlierSQLiteWarehouseKeepsItsPrimaryKeys: a warehouse an earlier
// version made (primary keys on id, no ledger) goes on loading as before:
// redeliveries add no rows, new tables get the primary key, no ledger.
func TestEarlierSQLiteWarehouseKeepsItsPrimaryKeys(t *testing.T) {
	t.Parallel()
	d := sqliteDB(t)
	// The DDL of the version before the ledger, and one row it loaded.
	earlierFile(t, d,
		`CREATE TABLE "tracks" ("id" TEXT PRIMARY KEY NOT NULL, "anonymous_id" TEXT, "user_id" TEXT, "event" TEXT, "event_text" TEXT, "received_at" TIMESTAMP, "sent_at" TIMESTAMP, "timestamp" TIMESTAMP, "original_timestamp" TIMESTAMP, "uuid_ts" TIMESTAMP, "context_library_name" TEXT, "context_library_version" TEXT)`,
		`CREATE INDEX "tracks_received_at_idx" ON "tracks" (received_at)`,
		`INSERT INTO "tracks" ("id", "user_id", "event", "event_text", "received_at") VALUES ('e1', 'u-e1', 'signed_up', 'Signed Up', '2025-01-02T03:04:06.000Z')`,
	)
	w := d.open(t)
	write(t, w, track("e1", "Signed Up", `{}`), track("e2", "Signed Up", `{}`))
	write(t, d.open(t), resent(track("e2", "Signed Up", `{}`)), track("e3", "page_view", `{}`))
	counts(t, d, map[string]int{"tracks": 3})
	if n := d.count(t, "signed_up"); n != 2 { // e1 and e2: each table keyed on its own, as before
		t.Errorf("signed_up has %d rows, want 2", n)
	}
	for _, table := range []string{"tracks", "signed_up", "page_view"} {
		if pk := d.query(t, "SELECT pk FROM pragma_table_info(?) WHERE name = 'id'", table)[0][0]; pk != "1" {
			t.Errorf("%s.id is not the primary key any more", table)
		}
	}
	if n := d.query(t, "SELECT count(*) FROM sqlite_master WHERE name LIKE '\\_bridge\\_%' ESCAPE '\\'")[0][0]; n != "0" {
		t.Errorf("an earlier warehouse got %s ledger tables, want none", n)
	}
}

// earlierFile makes d's SQLite file as an earlier version left it: the
// statements run on it before any Writer opens it.
func earlierFile(t *testing.T, d *db, ddl ...string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(d.cfg.DSN), 0o750); err != nil {
		t.Fatal(err)
	}
	old, err := sql.Open("sqlite", "file:"+d.cfg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	for _, q := range ddl {
		if _, err := old.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLedgerLargeBatchesAddEachEventOnce: Writes longer than one ledger
// INSERT, redelivered with new events among them and with every ledger key
// colliding, still add each event once.
func TestLedgerLargeBatchesAddEachEventOnce(t *testing.T) {
	events := func(from, to int) [][]byte {
		var out [][]byte
		for i := from; i < to; i++ {
			out = append(out, track(fmt.Sprintf("big-%d", i), "page_view", `{}`))
		}
		return out
	}
	check := func(t *testing.T, d *db, want int) {
		t.Helper()
		for _, table := range []string{"tracks", "page_view"} {
			if got := d.count(t, table); got != want {
				t.Errorf("%s has %d rows, want %d", table, got, want)
			}
		}
	}
	t.Run("distinct keys", func(t *testing.T) {
		d := sqliteDB(t)
		write(t, d.open(t), events(0, 300)...)
		write(t, d.open(t), append(events(250, 400), events(0, 300)...)...)
		check(t, d, 400)
	})
	t.Run("one key", func(t *testing.T) {
		defer warehouse.SetLoadedKey(func(string, string) int64 { return 7 })()
		d := sqliteDB(t)
		write(t, d.open(t), events(0, 300)...)
		write(t, d.open(t), append(events(250, 400), events(0, 300)...)...)
		check(t, d, 400)
	})
}

// TestDroppedLedgerIsMadeAgain: a ledger dropped by hand is made again, and
// the tables stay without a key on id (no silent switch to loading without
// either).
func TestDroppedLedgerIsMadeAgain(t *testing.T) {
	t.Parallel()
	d := sqliteDB(t)
	write(t, d.open(t), track("l1", "Signed Up", `{}`))
	d.query(t, "DROP TABLE _bridge_loaded")
	write(t, d.open(t), track("l2", "Signed Up", `{}`))
	write(t, d.open(t), track("l2", "Signed Up", `{}`))
	counts(t, d, map[string]int{"tracks": 2})
	if got := d.query(t, "SELECT count(*) FROM _bridge_loaded")[0][0]; got != "1" {
		t.Errorf("the ledger made again has %s events, want the 1 loaded since", got)
	}
}

// TestSameEventInWritesOfOneGroupLoadsOnce: the Writes that commit
// together (group commit) may carry the same events, as an SDK resend or a
// redelivery racing the original does: each event is loaded once, in
// tracks and in its own table. (The review of the ledger found 650 rows for
// 500 events here.)
func TestSameEventInWritesOfOneGroupLoadsOnce(t *testing.T) {
	d := sqliteDB(t)
	w := d.open(t)
	const writers, rounds, size = 8, 10, 50
	writeConcurrently(t, w, writers, rounds, func(_, r int) [][]byte {
		var batch [][]byte
		for i := range size {
			batch = append(batch, track(fmt.Sprintf("r%d-%d", r, i), "dup", `{}`))
		}
		return batch
	})
	counts(t, d, map[string]int{"tracks": rounds * size, "dup": rounds * size})
}

// eachDBAndTrackTable is eachDB plus a SQLite file an earlier version
// made with the ledger and a tracks table (tableTracksDDL).
func eachDBAndTrackTable(t *testing.T, f func(t *testing.T, d *db)) {
	eachDB(t, f)
	t.Run("sqlite with a tracks table", func(t *testing.T) {
		d := sqliteDB(t)
		earlierFile(t, d, tableTracksDDL...)
		f(t, d)
	})
}

// TestEventLoadedUnderAnotherNameAddsNoRows: an event's table comes from
// its name, and the name from the mapping at delivery, which can change
// between two deliveries of one event (an experiment exposure is read as
// a config exposure while the specs are not there yet): the event, loaded
// once, adds no row when it comes again under the other name, redelivered
// (the same receivedAt) or resent (another), alone or beside new events.
// tracks keeps one row, in the first name's table.
func TestEventLoadedUnderAnotherNameAddsNoRows(t *testing.T) {
	t.Parallel() // its own SQLite file and Postgres schema
	eachDBAndTrackTable(t, func(t *testing.T, d *db) {
		first := track("n1", "statsig::config_exposure", `{"config":"c"}`)
		again := track("n1", "statsig::experiment_exposure", `{"config":"c"}`)
		write(t, d.open(t), first)
		write(t, d.open(t), again)
		write(t, d.open(t), resent(again))
		write(t, d.open(t), track("n2", "page_view", `{}`), again)
		write(t, d.open(t), resent(again), track("n3", "statsig::experiment_exposure", `{}`))
		counts(t, d, map[string]int{"tracks": 3, "statsig_config_exposure": 1, "statsig_experiment_exposure": 1, "page_view": 1})
		if got := d.query(t, `SELECT event FROM tracks WHERE id = 'n1'`); len(got) != 1 || got[0][0] != "statsig_config_exposure" {
			t.Errorf("n1 in tracks: %v, want one row of statsig_config_exposure", got)
		}
	})
}

// TestEventUnderTwoNamesInConcurrentWritesLoadsOnce: writers at once load
// the same events, half of them under one name and half under another
// (on SQLite the Writes are committed in groups, so both names can meet
// in one transaction): each event has one tracks row and one row in one
// of the two tables.
func TestEventUnderTwoNamesInConcurrentWritesLoadsOnce(t *testing.T) {
	t.Parallel() // its own SQLite file and Postgres schema
	eachDBAndTrackTable(t, func(t *testing.T, d *db) {
		w := d.open(t)
		names := []string{"statsig::config_exposure", "statsig::experiment_exposure"}
		const writers, rounds, size = 6, 8, 50
		writeConcurrently(t, w, writers, rounds, func(g, r int) [][]byte {
			var batch [][]byte
			for i := range size {
				batch = append(batch, track(fmt.Sprintf("t%d-%d", r, i), names[g%2], `{}`))
			}
			return batch
		})
		counts(t, d, map[string]int{"tracks": rounds * size})
		if n := d.count(t, "statsig_config_exposure") + d.count(t, "statsig_experiment_exposure"); n != rounds*size {
			t.Errorf("the two tables have %d rows, want %d", n, rounds*size)
		}
	})
}
