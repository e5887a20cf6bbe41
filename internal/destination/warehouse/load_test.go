package warehouse_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/destination/warehouse"
)

func TestSchemaEvolvesMidStream(t *testing.T) {
	t.Parallel() // its own log, SQLite file and Postgres schema
	eachDB(t, func(t *testing.T, d *db) {
		w := d.open(t)
		write(t, w, track("a1", "Add To Cart", `{"value":1,"metadata":{"sku":"S1"}}`), track("a2", "Add To Cart", `{"value":2}`))
		if _, ok := d.columns(t, "add_to_cart")["metadata_coupon"]; ok {
			t.Fatal("column before its first value")
		}
		// The next batch brings a new property (and one always null, which
		// makes no column): added on the fly, no row lost.
		write(t, w, track("a3", "Add To Cart", `{"value":3,"metadata":{"sku":"S3","coupon":"TEN","never":null}}`))
		cols := d.columns(t, "add_to_cart")
		if _, ok := cols["metadata_coupon"]; !ok {
			t.Fatalf("no metadata_coupon column: %v", cols)
		}
		if _, ok := cols["metadata_never"]; ok {
			t.Error("an always-null property made a column")
		}
		got := d.query(t, "SELECT id, value, metadata_sku, metadata_coupon FROM add_to_cart ORDER BY id")
		want := [][]string{{"a1", "1", "S1", "NULL"}, {"a2", "2", "NULL", "NULL"}, {"a3", "3", "S3", "TEN"}}
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("rows %q, want %q", got, want)
		}
		counts(t, d, map[string]int{"tracks": 3})
		if _, ok := d.columns(t, "tracks")["metadata_coupon"]; ok {
			t.Error("a property became a tracks column")
		}
	})
}

func TestTypeConflictCastsOrStoresNull(t *testing.T) {
	t.Parallel() // its own log, SQLite file and Postgres schema
	eachDB(t, func(t *testing.T, d *db) {
		w := d.open(t)
		write(t, w, track("q1", "order", `{"qty":5,"price":9.5,"paid":true,"at":"2025-01-02T03:04:05Z"}`))
		write(t, w, track("q2", "order", `{"qty":"abc","price":"n/a","paid":"maybe","at":"later"}`))
		write(t, w, track("q3", "order", `{"qty":"42","price":"29.99","paid":"false","at":"2025-03-04T05:06:07.250+01:00"}`))
		write(t, w, track("q4", "order", `{"qty":7.6,"price":3,"paid":1,"at":12}`))
		cols := d.columns(t, "order")
		wantTypes := map[string]map[string]string{
			"sqlite":   {"qty": "BIGINT", "price": "DOUBLE PRECISION", "paid": "BOOLEAN", "at": "TIMESTAMP"},
			"postgres": {"qty": "bigint", "price": "double precision", "paid": "boolean", "at": "timestamp with time zone"},
		}[d.Driver]
		for c, ty := range wantTypes {
			if cols[c] != ty {
				t.Errorf("column %s is %s, want %s", c, cols[c], ty)
			}
		}
		bools := map[string]string{"sqlite": "1", "postgres": "true"}[d.Driver]
		falses := map[string]string{"sqlite": "0", "postgres": "false"}[d.Driver]
		got := d.query(t, `SELECT id, qty, price, paid, at FROM "order" ORDER BY id`)
		want := [][]string{
			{"q1", "5", "9.5", bools, "2025-01-02T03:04:05.000Z"},
			{"q2", "NULL", "NULL", "NULL", "NULL"},
			{"q3", "42", "29.99", falses, "2025-03-04T04:06:07.250Z"},
			{"q4", "8", "3", bools, "NULL"},
		}
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("rows\n got %q\nwant %q", got, want)
		}
		n := w.Notices()
		for _, c := range []string{"qty", "price", "paid"} {
			if n[warehouse.Notice{Kind: "type_conflict", Table: "order", Column: c}] != 1 {
				t.Errorf("conflict on %s reported %d times, want 1: %v", c, n[warehouse.Notice{Kind: "type_conflict", Table: "order", Column: c}], n)
			}
		}
		if n[warehouse.Notice{Kind: "type_conflict", Table: "order", Column: "at"}] != 2 {
			t.Errorf("conflict on at: %v", n)
		}
	})
}

func TestRedeliveredBatchAddsNoRows(t *testing.T) {
	t.Parallel() // its own log, SQLite file and Postgres schema
	eachDB(t, func(t *testing.T, d *db) {
		w := d.open(t)
		batch := [][]byte{track("r1", "Signed Up", `{"plan":"pro"}`), track("r2", "page_view", `{}`), track("r1", "Signed Up", `{"plan":"pro"}`)}
		write(t, w, batch...)
		write(t, w, batch...)
		// A restarted bridge (a new writer, nothing cached) loads it again.
		write(t, d.open(t), batch[1], track("r3", "Signed Up", `{"plan":"free"}`), batch[0])
		counts(t, d, map[string]int{"tracks": 3, "signed_up": 2, "page_view": 1})
	})
}

func TestLongNamesAreCutWithoutCollisions(t *testing.T) {
	t.Parallel() // its own log, SQLite file and Postgres schema
	eachDB(t, func(t *testing.T, d *db) {
		w := d.open(t)
		long := strings.Repeat("Checkout Step Completed With Extra Words ", 2)[:80]
		other := long[:70] + " different"
		prop := strings.Repeat("veryLongPropertyName", 4) // 80 bytes
		write(t, w, track("l1", long, fmt.Sprintf(`{%q:1,%q:2}`, prop, prop+"Two")), track("l2", other, `{}`))
		tables := d.tables(t)
		var long1, long2 string
		for _, tb := range tables {
			if len(tb) > 63 {
				t.Errorf("table %q is %d bytes", tb, len(tb))
			}
			if strings.HasPrefix(tb, "checkout_step") {
				if long1 == "" {
					long1 = tb
				} else {
					long2 = tb
				}
			}
		}
		if long1 == "" || long2 == "" || long1 == long2 {
			t.Fatalf("tables %q: want two distinct checkout_step… tables", tables)
		}
		for _, tb := range []string{long1, long2} {
			if n := d.count(t, tb); n != 1 {
				t.Errorf("%s has %d rows, want 1", tb, n)
			}
		}
		// tracks records which table each long name went to.
		got := d.query(t, "SELECT event_text, event FROM tracks ORDER BY id")
		if len(got) != 2 || got[0][0] != long || got[1][0] != other || got[0][1] == got[1][1] {
			t.Errorf("tracks: %q", got)
		}
		cols := d.columns(t, got[0][1])
		n := 0
		for c := range cols {
			if len(c) > 63 {
				t.Errorf("column %q is %d bytes", c, len(c))
			}
			if strings.HasPrefix(c, "very_long_property_name") {
				n++
			}
		}
		if n != 2 {
			t.Errorf("want 2 distinct long property columns: %v", cols)
		}
	})
}

func TestOddNamesHaveARule(t *testing.T) {
	t.Parallel() // its own log, SQLite file and Postgres schema
	eachDB(t, func(t *testing.T, d *db) {
		w := d.open(t)
		write(t, w,
			track("o1", "Tracks", `{"select":"s","order":1,"from":{"where":"x"}}`),
			track("o2", "日本語", `{"名前":"x","ok":"y"}`),
			track("o3", "2FA Enabled", `{"2fa":"totp"}`),
			track("o4", "users", `{"id":"evil","event":"evil","timestamp":"evil","received_at":"evil","uuid_ts":"evil","context":{"ip":"evil"},"fine":"z"}`),
		)
		tables := d.tables(t)
		hashed := ""
		for _, tb := range tables {
			if strings.HasPrefix(tb, "event_") && tb != "event_tracks" && tb != "event_users" {
				hashed = tb
			}
		}
		for _, want := range []string{"event_tracks", "event_users", "_2fa_enabled", "tracks"} {
			if !slices.Contains(tables, want) {
				t.Errorf("no table %s in %q", want, tables)
			}
		}
		if hashed == "" {
			t.Fatalf("no table for 日本語 in %q", tables)
		}
		// Every event is in tracks, with its table.
		got := d.query(t, "SELECT id, event, event_text FROM tracks ORDER BY id")
		want := [][]string{{"o1", "event_tracks", "Tracks"}, {"o2", hashed, "日本語"}, {"o3", "_2fa_enabled", "2FA Enabled"}, {"o4", "event_users", "users"}}
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("tracks %q, want %q", got, want)
		}
		// Reserved words work as columns (identifiers are always quoted).
		if r := d.query(t, `SELECT "select", "order", from_where FROM event_tracks`); !slices.Equal(r[0], []string{"s", "1", "x"}) {
			t.Errorf("reserved-word columns: %q", r)
		}
		if r := d.query(t, `SELECT ok FROM "`+hashed+`"`); r[0][0] != "y" {
			t.Errorf("%s: %q", hashed, r)
		}
		if r := d.query(t, `SELECT _2fa FROM _2fa_enabled`); r[0][0] != "totp" {
			t.Errorf("_2fa_enabled: %q", r)
		}
		// Properties named like standard columns never overwrite them.
		r := d.query(t, `SELECT id, event, fine FROM event_users`)
		if !slices.Equal(r[0], []string{"o4", "event_users", "z"}) {
			t.Errorf("event_users: %q", r)
		}
		if r := d.query(t, `SELECT count(*) FROM event_users WHERE "timestamp" IS NULL OR received_at IS NULL OR uuid_ts IS NULL`); r[0][0] != "0" {
			t.Errorf("a property overwrote a standard column")
		}
		n := w.Notices()
		for _, c := range []string{"id", "event", "timestamp", "received_at", "uuid_ts", "context_ip"} {
			if n[warehouse.Notice{Kind: "reserved_name", Table: "event_users", Column: c}] != 1 {
				t.Errorf("dropping %s not reported: %v", c, n)
			}
		}
		if n[warehouse.Notice{Kind: "empty_name", Table: hashed, Column: ""}] != 1 {
			t.Errorf("dropping 名前 not reported: %v", n)
		}
	})
}

func TestColumnCapDropsExtraProperties(t *testing.T) {
	t.Parallel() // its own log, SQLite file and Postgres schema
	eachDB(t, func(t *testing.T, d *db) {
		w := d.open(t, func(c *warehouse.Config) { c.MaxColumns = 14 })
		// 10 standard + 2 context columns; room for 2 properties.
		write(t, w, track("c1", "wide", `{"a":1,"b":2}`))
		write(t, w, track("c2", "wide", `{"a":1,"c":3,"d":4}`))
		cols := d.columns(t, "wide")
		if len(cols) != 14 {
			t.Errorf("%d columns, want 14: %v", len(cols), cols)
		}
		if _, ok := cols["c"]; ok {
			t.Error("a column over the cap")
		}
		if d.count(t, "wide") != 2 {
			t.Error("a row over the cap was lost")
		}
		n := w.Notices()
		if n[warehouse.Notice{Kind: "column_cap", Table: "wide", Column: "c"}] == 0 || n[warehouse.Notice{Kind: "column_cap", Table: "wide", Column: "d"}] == 0 {
			t.Errorf("dropping c and d not reported: %v", n)
		}
	})
}

// TestConcurrentBatchesAddTheSameColumn: several workers (and several
// writers, as several bridges would) add the same new columns at once.
func TestConcurrentBatchesAddTheSameColumn(t *testing.T) {
	t.Parallel() // its own log, SQLite file and Postgres schema
	eachDB(t, func(t *testing.T, d *db) {
		writers := []*warehouse.Writer{d.open(t), d.open(t)}
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for g := range 8 {
			wg.Go(func() {
				w := writers[g%2]
				for round := range 4 {
					var batch [][]byte
					for i := range 20 {
						id := fmt.Sprintf("g%d-r%d-%d", g, round, i)
						batch = append(batch, track(id, "evolving", fmt.Sprintf(`{"p%d":%d,"shared_%d":"x"}`, round, i, round)))
					}
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					err := w.Write(ctx, batch)
					cancel()
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("Write: %v", err)
		}
		counts(t, d, map[string]int{"evolving": 8 * 4 * 20, "tracks": 8 * 4 * 20})
	})
}

func TestErrorsAreClassifiedForTheRunner(t *testing.T) {
	t.Parallel() // its own log, SQLite file and Postgres schema
	eachDB(t, func(t *testing.T, d *db) {
		w := d.open(t)
		ctx := context.Background()
		var perm *destination.PermanentError
		if err := w.Write(ctx, [][]byte{[]byte(`{"event":"x"`)}); !errors.As(err, &perm) {
			t.Errorf("unreadable message: %v, want a PermanentError", err)
		}
		if d.Driver == "postgres" {
			// Postgres refuses a messageId too long for its primary key's
			// index (54000): the batch is refused for its data, so the
			// runner bisects to the event.
			rnd := make([]byte, 6000)
			rand.Read(rnd)
			if err := w.Write(ctx, [][]byte{track(hex.EncodeToString(rnd), "bad", `{}`)}); !errors.As(err, &perm) {
				t.Errorf("messageId too long to index: %v, want a PermanentError", err)
			}
		}
		// Invalid UTF-8 (SDK metadata bytes travel unchanged) is read as
		// encoding/json reads it, U+FFFD, so Postgres takes it too.
		if err := w.Write(ctx, [][]byte{track("u2", "bad_utf8", `{"s":"`+"\xff\xfe"+`"}`)}); err != nil {
			t.Errorf("invalid UTF-8: %v, want the row stored", err)
		}
		if n := d.count(t, "bad_utf8"); n != 1 {
			t.Errorf("bad_utf8 has %d rows, want 1", n)
		}
	})
	t.Run("postgres down", func(t *testing.T) {
		w, err := warehouse.New(warehouse.Config{Driver: "postgres", DSN: "postgres://nobody@127.0.0.1:1/none?connect_timeout=2"})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		err = w.Write(context.Background(), [][]byte{track("d1", "x", `{}`)})
		var perm *destination.PermanentError
		var auth *destination.AuthError
		if err == nil || errors.As(err, &perm) || errors.As(err, &auth) {
			t.Errorf("connection refused: %v, want a transient error", err)
		}
	})
}

// TestMaxStringLengthTruncatesAsSegment (Segment conformance check 41):
// with max_string_length 512, a longer string property or context field is
// stored as its first 512 characters (not bytes) and the cut is reported;
// without it, stored whole.
func TestMaxStringLengthTruncatesAsSegment(t *testing.T) {
	t.Parallel() // its own SQLite file and Postgres schema
	long := strings.Repeat("é", 600)
	eachDB(t, func(t *testing.T, d *db) {
		w := d.open(t, func(c *warehouse.Config) { c.MaxStringLength = 512 })
		write(t, w, track("s1", "note", fmt.Sprintf(`{"body":%q,"short":"ok"}`, long)))
		got := d.query(t, "SELECT body, short FROM note")
		if len(got) != 1 || got[0][0] != strings.Repeat("é", 512) || got[0][1] != "ok" {
			t.Errorf("stored %d rows, body of %d characters, short %q; want the first 512 characters and ok", len(got), len([]rune(got[0][0])), got[0][1])
		}
		if n := w.Notices()[warehouse.Notice{Kind: "truncated", Table: "note", Column: "body"}]; n != 1 {
			t.Errorf("truncation reported %d times, want 1: %v", n, w.Notices())
		}
	})
	eachDB(t, func(t *testing.T, d *db) {
		w := d.open(t)
		write(t, w, track("s2", "note", fmt.Sprintf(`{"body":%q}`, long)))
		if got := d.query(t, "SELECT body FROM note"); len(got) != 1 || got[0][0] != long {
			t.Errorf("without max_string_length the body was not stored whole")
		}
	})
}
