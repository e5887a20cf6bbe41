package warehouse

import (
	"slices"
	"testing"
	"time"
)

// TestSQLiteValuesMatchEachValueConverted: converting a repeated time once
// per column gives the values converted one by one, whatever the rows'
// order of repeats, zones and equal instants.
func TestSQLiteValuesMatchEachValueConverted(t *testing.T) {
	a := time.Date(2025, 1, 2, 3, 4, 5, 678_900_000, time.UTC)
	b := a.In(time.FixedZone("x", 3600)) // the same instant
	c := a.Add(time.Millisecond)
	rows := [][]any{
		{"id1", a, a, nil, true},
		{"id2", b, c, a, false},
		{"id3", c, c, nil, int64(3)},
		{"id4", a, nil, c, "s"},
	}
	var s sqliteDB
	batch := tableBatch{cols: []string{"id", "t1", "t2", "t3", "v"}, rows: rows}
	s.values(&batch)
	var want []any
	for _, r := range rows {
		for _, v := range r {
			want = append(want, sqliteValue(v))
		}
	}
	if !slices.Equal(batch.args, want) {
		t.Errorf("values:\n got %v\nwant %v", batch.args, want)
	}
}
