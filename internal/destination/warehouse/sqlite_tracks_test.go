package warehouse_test

import (
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/statsig-bridge/statsig-bridge/internal/destination/warehouse"
)

// TestSQLiteTracksIsAViewOverTheEventTables: a new SQLite warehouse holds
// each event once, in its table, and tracks reads as the table it stands
// for: one row per event with the standard and context columns and their
// types, NULL where an event's table lacks a context column, nothing
// loaded twice on a redelivery.
func TestSQLiteTracksIsAViewOverTheEventTables(t *testing.T) {
	t.Parallel()
	d := sqliteDB(t)
	w := d.open(t)
	withLocale := []byte(`{"type":"track","event":"Order Completed","userId":"u-o1","messageId":"o1","timestamp":"2025-01-02T03:04:05.000Z","properties":{"total":9.5},"context":{"library":{"name":"statsig-bridge"},"locale":"de-DE"},"receivedAt":"2025-01-02T03:04:06.000Z"}`)
	write(t, w, track("s1", "Signed Up", `{"plan":"pro"}`), withLocale, track("s2", "Signed Up", `{}`))
	write(t, d.open(t), resent(track("s1", "Signed Up", `{"plan":"pro"}`)), withLocale)

	if kind := d.query(t, "SELECT type FROM sqlite_master WHERE name = 'tracks'")[0][0]; kind != "view" {
		t.Fatalf("tracks is a %s, want a view", kind)
	}
	got := d.query(t, "SELECT id, event, event_text, user_id, received_at, context_library_name, context_locale FROM tracks ORDER BY id")
	want := [][]string{
		{"o1", "order_completed", "Order Completed", "u-o1", "2025-01-02T03:04:06.000Z", "statsig-bridge", "de-DE"},
		{"s1", "signed_up", "Signed Up", "u-s1", "2025-01-02T03:04:06.000Z", "statsig-bridge", "NULL"},
		{"s2", "signed_up", "Signed Up", "u-s2", "2025-01-02T03:04:06.000Z", "statsig-bridge", "NULL"},
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("tracks:\n got %q\nwant %q", got, want)
	}
	cols := d.columns(t, "tracks")
	for col, typ := range map[string]string{"id": "TEXT", "received_at": "TIMESTAMP", "uuid_ts": "TIMESTAMP", "context_locale": "TEXT"} {
		if cols[col] != typ {
			t.Errorf("tracks.%s is %q, want %q", col, cols[col], typ)
		}
	}
	for _, col := range []string{"plan", "total"} {
		if _, ok := cols[col]; ok {
			t.Errorf("tracks has the property column %s", col)
		}
	}
	if n := d.count(t, "signed_up") + d.count(t, "order_completed"); n != 3 {
		t.Errorf("the event tables hold %d rows, want 3", n)
	}
	if n := d.count(t, "_bridge_tracks_columns"); n != 0 {
		t.Errorf("the tracks column list holds %d rows, want none", n)
	}
}

// TestSQLiteTracksViewSurvivesADroppedTable: a user drops an event table
// the view reads and adds a table of their own; the writer rebuilds the
// view without either and loads on.
func TestSQLiteTracksViewSurvivesADroppedTable(t *testing.T) {
	t.Parallel()
	d := sqliteDB(t)
	w := d.open(t)
	write(t, w, track("a1", "Gone Soon", `{}`), track("b1", "Stays", `{}`))
	d.query(t, `DROP TABLE "gone_soon"`)
	d.query(t, `CREATE TABLE my_report (day TEXT, n INTEGER)`) // the user's own: not in tracks
	d.query(t, `INSERT INTO my_report VALUES ('2025-01-02', 7)`)
	writeAfterChange(t, w, track("b2", "Stays", `{}`))
	if got := d.query(t, "SELECT id FROM tracks ORDER BY id"); !slices.EqualFunc(got, [][]string{{"b1"}, {"b2"}}, slices.Equal) {
		t.Errorf("tracks after the drop: %q, want b1, b2", got)
	}
}

// writeAfterChange writes msg once a Write succeeds, in at most three: the
// first after a change the user made to the file may meet the writer's
// stale catalogue, a retryable error.
func writeAfterChange(t *testing.T, w *warehouse.Writer, msg []byte) {
	t.Helper()
	var err error
	for range 3 {
		if err = w.Write(t.Context(), [][]byte{msg}); err == nil {
			return
		}
	}
	t.Fatalf("no Write succeeded after the change: %v", err)
}

// TestSQLiteTracksViewOverManyTables: past SQLite's 500 terms of one
// compound SELECT, the view groups the event tables and still lists every
// event once.
func TestSQLiteTracksViewOverManyTables(t *testing.T) {
	t.Parallel()
	d := sqliteDB(t)
	const events = 450
	var msgs [][]byte
	for i := range events {
		msgs = append(msgs, track("m"+strconv.Itoa(i), fmt.Sprintf("Event %d", i), `{}`))
	}
	write(t, d.open(t), msgs...)
	counts(t, d, map[string]int{"tracks": events})
	if typ := d.columns(t, "tracks")["received_at"]; typ != "TIMESTAMP" {
		t.Errorf("tracks.received_at is %q, want TIMESTAMP", typ)
	}
}

// tableTracksDDL makes a SQLite file as the version before the tracks view
// did: the ledger and a tracks table without a key.
var tableTracksDDL = []string{
	`CREATE TABLE _bridge_loaded (h INTEGER PRIMARY KEY, received_at INTEGER)`,
	`CREATE TABLE _bridge_loaded_collisions (family TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (family, id)) WITHOUT ROWID`,
	`CREATE TABLE "tracks" ("id" TEXT NOT NULL, "anonymous_id" TEXT, "user_id" TEXT, "event" TEXT, "event_text" TEXT, "received_at" TIMESTAMP, "sent_at" TIMESTAMP, "timestamp" TIMESTAMP, "original_timestamp" TIMESTAMP, "uuid_ts" TIMESTAMP)`,
	`CREATE INDEX "tracks__received_at" ON "tracks" (received_at)`,
}

// TestEarlierSQLiteTracksTableKeepsLoading: a warehouse the previous
// version made (the ledger, a tracks table without a key) keeps its tracks
// table and loads every event into it once.
func TestEarlierSQLiteTracksTableKeepsLoading(t *testing.T) {
	t.Parallel()
	d := sqliteDB(t)
	earlierFile(t, d, tableTracksDDL...)
	write(t, d.open(t), track("e1", "Signed Up", `{}`), track("e2", "Signed Up", `{}`))
	write(t, d.open(t), resent(track("e2", "Signed Up", `{}`)), track("e3", "page_view", `{}`))
	if kind := d.query(t, "SELECT type FROM sqlite_master WHERE name = 'tracks'")[0][0]; kind != "table" {
		t.Fatalf("tracks became a %s, want it kept a table", kind)
	}
	counts(t, d, map[string]int{"tracks": 3})
	if n := d.count(t, "signed_up") + d.count(t, "page_view"); n != 3 {
		t.Errorf("the event tables hold %d rows, want 3", n)
	}
}

// withContext is a Track message of event with context ctx and properties
// props.
func withContext(id, event, ctx, props string) []byte {
	return fmt.Appendf(nil, `{"type":"track","event":%q,"userId":"u-%s","messageId":%q,"timestamp":"2025-01-02T03:04:05.000Z","properties":%s,"context":%s,"receivedAt":"2025-01-02T03:04:06.000Z"}`,
		event, id, id, props, ctx)
}

// TestSQLiteTracksViewTypesAsATable: a context field whose first value
// differs in kind from one event to another reads from the view as it did
// from a tracks table: typed by its first value across every event, a
// value that does not fit stored as NULL (review finding).
func TestSQLiteTracksViewTypesAsATable(t *testing.T) {
	t.Parallel()
	msgs := [][]byte{
		withContext("a1", "A", `{"x":5}`, `{}`),
		withContext("b1", "B", `{"x":"abc"}`, `{}`),
		withContext("b2", "B", `{"x":7}`, `{}`),
	}
	table, view := sqliteDB(t), sqliteDB(t)
	earlierFile(t, table, tableTracksDDL...)
	for _, d := range []*db{table, view} {
		write(t, d.open(t), msgs[0])
		write(t, d.open(t), msgs[1:]...)
	}
	q := "SELECT id, typeof(context_x), context_x FROM tracks ORDER BY id"
	got, want := view.query(t, q), table.query(t, q)
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("tracks view:  %q\ntracks table: %q", got, want)
	}
	if typ := view.columns(t, "tracks")["context_x"]; typ != "BIGINT" {
		t.Errorf("tracks.context_x is %q, want BIGINT", typ)
	}
}

// TestSQLiteTracksViewLeavesCopiesOut: a user's copy of tracks or of an
// event table (CREATE TABLE … AS SELECT) has the standard columns but is
// no event table: its rows do not show in tracks (review finding).
func TestSQLiteTracksViewLeavesCopiesOut(t *testing.T) {
	t.Parallel()
	d := sqliteDB(t)
	w := d.open(t)
	write(t, w, track("a1", "Signed Up", `{}`), track("a2", "Signed Up", `{}`))
	d.query(t, `CREATE TABLE tracks_archive AS SELECT * FROM tracks`)
	d.query(t, `CREATE TABLE signed_up_copy AS SELECT * FROM signed_up`)
	write(t, w, track("a3", "Signed Up", `{}`))
	counts(t, d, map[string]int{"tracks": 3})
}

// TestSQLiteTracksViewRecoversItsColumnList: the writer loads on after a
// user drops the view's column list (review finding: every load failed
// until a restart).
func TestSQLiteTracksViewRecoversItsColumnList(t *testing.T) {
	t.Parallel()
	d := sqliteDB(t)
	w := d.open(t)
	write(t, w, track("a1", "Signed Up", `{}`))
	d.query(t, `DROP TABLE _bridge_tracks_columns`)
	writeAfterChange(t, w, track("b1", "Signed Up", `{}`))
	if n := d.count(t, "tracks"); n != 2 {
		t.Errorf("tracks has %d rows, want the first and the one loaded after", n)
	}
	if typ := d.columns(t, "tracks")["context_library_name"]; typ != "TEXT" {
		t.Errorf("tracks.context_library_name is %q after the recovery, want TEXT", typ)
	}
}
