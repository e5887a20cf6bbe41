package warehouse_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// TestGroupCommitIsolatesARefusedBatch: SQLite commits the batches of
// concurrent Writes together; a batch the database refuses (here a
// user's trigger) must fail only its own Write, with a PermanentError so
// the runner bisects it, while every other batch's rows are committed.
// Eight writers keep the loader busy, so batches wait and join groups.
func TestGroupCommitIsolatesARefusedBatch(t *testing.T) {
	d := sqliteDB(t)
	w := d.open(t)
	write(t, w, track("first", "guarded", `{"amount":1}`))
	d.query(t, `CREATE TRIGGER refuse_negative BEFORE INSERT ON guarded WHEN NEW.amount < 0 BEGIN SELECT RAISE(ABORT, 'negative amount'); END`)

	const writers, rounds, size = 8, 6, 200
	var wg sync.WaitGroup
	errs := make([][]error, writers)
	for g := range writers {
		errs[g] = make([]error, rounds)
		wg.Go(func() {
			for r := range rounds {
				var batch [][]byte
				for i := range size {
					amount := i
					if g == 3 && r == 2 && i == 7 {
						amount = -1 // the one refused row
					}
					batch = append(batch, track(fmt.Sprintf("g%d-r%d-%d", g, r, i), "guarded", fmt.Sprintf(`{"amount":%d}`, amount)))
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				errs[g][r] = w.Write(ctx, batch)
				cancel()
			}
		})
	}
	wg.Wait()
	for g := range writers {
		for r := range rounds {
			err := errs[g][r]
			if g == 3 && r == 2 {
				var perm *destination.PermanentError
				if !errors.As(err, &perm) {
					t.Errorf("batch with the refused row: %v, want a PermanentError", err)
				}
				continue
			}
			if err != nil {
				t.Errorf("writer %d round %d: %v, want its rows loaded", g, r, err)
			}
		}
	}
	want := 1 + (writers*rounds-1)*size
	if n := d.count(t, "guarded"); n != want {
		t.Errorf("guarded has %d rows, want %d (every batch but the refused one)", n, want)
	}
	counts(t, d, map[string]int{"tracks": want})
	if n := d.query(t, "SELECT count(*) FROM guarded WHERE id LIKE 'g3-r2-%'")[0][0]; n != "0" {
		t.Errorf("%s rows of the refused batch were committed, want none", n)
	}
}

// TestSQLiteLogIsCopiedIntoTheDatabase: the loader never checkpoints
// itself; the checkpointer must copy committed pages from the write-ahead
// log into the database file, or the log would grow without end.
func TestSQLiteLogIsCopiedIntoTheDatabase(t *testing.T) {
	d := sqliteDB(t)
	w := d.open(t)
	for r := range 20 {
		var batch [][]byte
		for i := range 100 {
			batch = append(batch, track(fmt.Sprintf("r%d-%d", r, i), "copied", `{"note":"a row long enough to fill pages"}`))
		}
		write(t, w, batch...)
	}
	path := d.cfg.DSN
	pages := func() int64 {
		var n, size int64
		fmt.Sscan(d.query(t, "PRAGMA page_count")[0][0], &n)
		fmt.Sscan(d.query(t, "PRAGMA page_size")[0][0], &size)
		return n * size
	}
	want := pages()
	testwait.For(t, 20*time.Second, "the database file to hold every committed page", func() bool {
		st, err := os.Stat(path)
		return err == nil && st.Size() >= want
	})
	if _, err := os.Stat(filepath.Clean(path + "-wal")); err != nil {
		t.Fatalf("no write-ahead log next to the database: %v", err)
	}
}

// TestDroppedTableIsMadeAgain: someone drops a table the writer knows (its
// columns and, on SQLite, its prepared INSERTs are cached). The next Write
// may fail, as a retryable error, never a refusal of the batch; the one
// after makes the table again and loads.
func TestDroppedTableIsMadeAgain(t *testing.T) {
	eachDB(t, func(t *testing.T, d *db) {
		w := d.open(t)
		write(t, w, track("before", "dropped", `{"n":1}`))
		table := `"dropped"`
		if d.Driver == "postgres" {
			table = `"` + d.cfg.Schema + `"."dropped"`
		}
		d.query(t, "DROP TABLE "+table)
		var err error
		for attempt := range 3 {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			err = w.Write(ctx, [][]byte{track("after", "dropped", `{"n":2}`)})
			cancel()
			if err == nil {
				break
			}
			var perm *destination.PermanentError
			var auth *destination.AuthError
			if errors.As(err, &perm) || errors.As(err, &auth) {
				t.Fatalf("attempt %d: %v, want a retryable error", attempt+1, err)
			}
		}
		if err != nil {
			t.Fatalf("the table was not made again: %v", err)
		}
		if n := d.count(t, "dropped"); n != 1 {
			t.Errorf("dropped has %d rows, want 1 (the row loaded after it was made again)", n)
		}
	})
}
