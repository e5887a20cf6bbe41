package warehouse_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/statsig-bridge/statsig-bridge/internal/destination/warehouse"
)

// TestRowsOfOneBatchLoadAsOneByOne: values repeating from row to row in one
// Write (which the writer converts once per run) load as they do one Write
// per row: the same stored values, every type conflict and every truncation
// reported for each row.
func TestRowsOfOneBatchLoadAsOneByOne(t *testing.T) {
	t.Parallel() // its own SQLite file and Postgres schema
	long := strings.Repeat("é", 600)
	props := []string{
		fmt.Sprintf(`{"qty":5,"note":%q,"at":"2025-01-02T03:04:05Z","flag":true}`, long),
		fmt.Sprintf(`{"qty":5,"note":%q,"at":"2025-01-02T03:04:05Z","flag":true}`, long),
		`{"qty":"abc","note":"ok","at":"later","flag":false}`,
		`{"qty":"abc","note":"ok","at":"later","flag":"true"}`,
		fmt.Sprintf(`{"qty":"5","note":%q,"at":"2025-01-02T03:04:05Z","flag":1}`, long),
		`{"qty":7.6,"note":"ok","at":"2025-01-02T04:04:05Z","flag":true}`,
	}
	eachDB(t, func(t *testing.T, d *db) {
		w := d.open(t, func(c *warehouse.Config) { c.MaxStringLength = 512 })
		var batch [][]byte
		for i, p := range props {
			batch = append(batch, track(fmt.Sprintf("b%d", i), "together", p))
			write(t, w, track(fmt.Sprintf("s%d", i), "alone", p))
		}
		write(t, w, batch...)
		together := d.query(t, `SELECT qty, note, at, flag, user_id, received_at FROM together ORDER BY id`)
		alone := d.query(t, `SELECT qty, note, at, flag, user_id, received_at FROM alone ORDER BY id`)
		for i := range together {
			together[i][4], alone[i][4] = strings.TrimPrefix(together[i][4], "u-b"), strings.TrimPrefix(alone[i][4], "u-s")
		}
		if !slices.EqualFunc(together, alone, slices.Equal) {
			t.Errorf("one Write:\n%q\none Write a row:\n%q", together, alone)
		}
		n := w.Notices()
		for _, c := range []string{"qty", "note", "at", "flag"} {
			for _, kind := range []string{"type_conflict", "truncated"} {
				if a, b := n[warehouse.Notice{Kind: kind, Table: "together", Column: c}], n[warehouse.Notice{Kind: kind, Table: "alone", Column: c}]; a != b {
					t.Errorf("%s on %s reported %d times in one Write, %d one row at a time", kind, c, a, b)
				}
			}
		}
		if got := n[warehouse.Notice{Kind: "truncated", Table: "together", Column: "note"}]; got != 3 {
			t.Errorf("truncation reported %d times, want 3", got)
		}
	})
}
