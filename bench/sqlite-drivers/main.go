// Command sqlite-drivers loads the same rows through one of three SQLite
// drivers (chosen by build tag: modernc, mattn or ncruces), the way the
// warehouse's SQLite loader does (WAL, synchronous=NORMAL, 32 MB cache,
// cached 64-row INSERT … ON CONFLICT (id) DO NOTHING, one transaction per
// group of batches, random ids, a received_at index), and prints the
// transactions' CPU and wall time per event (one event = a tracks row and
// an event-table row). Its own module, so the bridge's go.mod gains no
// driver it does not use (BENCHMARKS.md, Warehouse):
//
//	cd bench/sqlite-drivers
//	go build -tags modernc -o /tmp/drv-modernc . && /tmp/drv-modernc
//	CGO_ENABLED=1 go build -tags mattn -o /tmp/drv-mattn . && /tmp/drv-mattn
//	go build -tags ncruces -o /tmp/drv-ncruces . && /tmp/drv-ncruces
package main

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const (
	ctxCols   = 14
	propCols  = 12
	perInsert = 64
)

func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	events := flag.Int("events", 200000, "events")
	group := flag.Int("group", 5000, "events per transaction")
	pageSize := flag.Int("page-size", 4096, "page size of the new database")
	mmap := flag.Int("mmap", 0, "mmap_size (0: reads through the page cache)")
	seq := flag.Bool("seq", false, "sequential ids instead of random ones")
	flag.Parse()
	dir, _ := os.MkdirTemp("", "drvcmp-")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "w.db")
	name, dsn := open(path, *pageSize, *mmap)
	db, err := sql.Open(name, dsn)
	if err != nil {
		panic(err)
	}
	db.SetMaxOpenConns(1)
	for _, p := range []string{"temp_store=MEMORY", "cache_size=-32768"} {
		if _, err := db.Exec("PRAGMA " + p); err != nil {
			panic(err)
		}
	}
	std := []string{"id TEXT PRIMARY KEY NOT NULL", "anonymous_id TEXT", "user_id TEXT", "event TEXT", "event_text TEXT", "received_at TIMESTAMP", "sent_at TIMESTAMP", "timestamp TIMESTAMP", "original_timestamp TIMESTAMP", "uuid_ts TIMESTAMP"}
	var ctxc, propc []string
	for i := range ctxCols {
		ctxc = append(ctxc, fmt.Sprintf("context_field_%02d TEXT", i))
	}
	for i := range propCols {
		propc = append(propc, fmt.Sprintf("prop_%02d TEXT", i))
	}
	tables := map[string][]string{"tracks": append(append([]string{}, std...), ctxc...)}
	evTables := []string{"gate_exposure", "config_exposure", "experiment_exposure", "layer_exposure", "add_to_cart", "purchase"}
	for _, t := range evTables {
		tables[t] = append(append(append([]string{}, std...), ctxc...), propc...)
	}
	stmts := map[string][2]*sql.Stmt{}
	for t, cols := range tables {
		if _, err := db.Exec(fmt.Sprintf("CREATE TABLE %q (%s)", t, strings.Join(cols, ", "))); err != nil {
			panic(err)
		}
		if _, err := db.Exec(fmt.Sprintf("CREATE INDEX %q ON %q (received_at)", t+"__received_at", t)); err != nil {
			panic(err)
		}
		var names []string
		for _, c := range cols {
			names = append(names, `"`+strings.Fields(c)[0]+`"`)
		}
		tuple := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
		mk := func(n int) *sql.Stmt {
			q := fmt.Sprintf("INSERT INTO %q (%s) VALUES %s ON CONFLICT (id) DO NOTHING", t, strings.Join(names, ", "), strings.TrimSuffix(strings.Repeat(tuple+",", n), ","))
			st, err := db.Prepare(q)
			if err != nil {
				panic(err)
			}
			return st
		}
		stmts[t] = [2]*sql.Stmt{mk(perInsert), mk(1)}
	}
	row := func(n int, cols int) []any {
		h := sha256.Sum256([]byte(fmt.Sprint(n)))
		id := hex.EncodeToString(h[:16])
		if *seq {
			id = fmt.Sprintf("%032d", n)
		}
		ts := time.UnixMilli(1764000000000 + int64(n)).UTC().Format("2006-01-02T15:04:05.000Z")
		r := []any{id, nil, "user-" + id[:8], "gate_exposure", "statsig::gate_exposure", ts, ts, ts, ts, ts}
		for i := 10; i < cols; i++ {
			r = append(r, fmt.Sprintf("value-%d-of-a-typical-length-%d", i, n%97))
		}
		return r
	}
	var used, wall time.Duration
	for start := 0; start < *events; start += *group {
		end := min(start+*group, *events)
		byTable := map[string][]any{}
		count := map[string]int{}
		for n := start; n < end; n++ {
			byTable["tracks"] = append(byTable["tracks"], row(n, len(tables["tracks"]))...)
			count["tracks"]++
			et := evTables[n%len(evTables)]
			byTable[et] = append(byTable[et], row(n, len(tables[et]))...)
			count[et]++
		}
		t0, w0 := cpu(), time.Now()
		tx, err := db.Begin()
		if err != nil {
			panic(err)
		}
		for t, args := range byTable {
			cols := len(tables[t])
			rows := count[t]
			full, one := tx.Stmt(stmts[t][0]), tx.Stmt(stmts[t][1])
			for rows > 0 {
				n, st := perInsert, full
				if rows < perInsert {
					n, st = 1, one
				}
				if _, err := st.Exec(args[:n*cols]...); err != nil {
					panic(err)
				}
				args, rows = args[n*cols:], rows-n
			}
		}
		if err := tx.Commit(); err != nil {
			panic(err)
		}
		used += cpu() - t0
		wall += time.Since(w0)
	}
	fmt.Printf("%-8s %d events, %d per tx: %.0f events/s (wall time in transactions), %.1f cpu-µs/event (loading only)\n", driver, *events, *group, float64(*events)/wall.Seconds(), float64(used.Microseconds())/float64(*events))
}
