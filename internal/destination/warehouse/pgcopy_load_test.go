package warehouse_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/destination"
)

// TestPostgresColumnTypeChangedByUser: Segment support changes column
// types (bigint → integer, text → varchar); the bridge loads into the
// changed column whether it changed before the writer read the catalogue
// (the batch goes through pgx's CopyFrom, which asks the server for the
// types) or after (the binary COPY written for the old type is refused:
// the writer reads the catalogue again and the retry loads; nothing is
// dead-lettered).
func TestPostgresColumnTypeChangedByUser(t *testing.T) {
	d := postgresDB(t)
	w := d.open(t)
	write(t, w, track("a1", "Purchase", `{"qty":3,"note":"first","price":1.5,"gift":true}`))
	schema := d.cfg.Schema
	d.query(t, `ALTER TABLE "`+schema+`".purchase ALTER COLUMN qty TYPE integer, ALTER COLUMN note TYPE varchar(40)`)

	// After: this writer still holds bigint and text for them.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := w.Write(ctx, [][]byte{track("a2", "Purchase", `{"qty":4,"note":"second","price":2.5,"gift":false}`)})
	var perm *destination.PermanentError
	if errors.As(err, &perm) {
		t.Fatalf("a changed column type made the batch permanent (it would be dead-lettered): %v", err)
	}
	if err != nil {
		write(t, w, track("a2", "Purchase", `{"qty":4,"note":"second","price":2.5,"gift":false}`)) // the runner's retry
	}
	// Before: a new writer reads integer and varchar from the catalogue.
	write(t, d.open(t), track("a3", "Purchase", `{"qty":5,"note":"third","price":3.5,"gift":true}`))

	got := d.query(t, `SELECT id, qty, note, price, gift FROM "`+schema+`".purchase ORDER BY id`)
	want := [][]string{{"a1", "3", "first", "1.5", "true"}, {"a2", "4", "second", "2.5", "false"}, {"a3", "5", "third", "3.5", "true"}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("rows:\n got %q\nwant %q", got, want)
	}
	if n := d.count(t, "tracks"); n != 3 {
		t.Fatalf("tracks has %d rows, want 3", n)
	}
}
