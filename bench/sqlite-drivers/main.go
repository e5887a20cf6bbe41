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
//
// -key measures what keeping duplicates out costs (issue 13): the primary
// key on id (pk, as the warehouse did), a ledger of log messages by stream
// sequence (ledger; ledger-index adds a plain index on id for queries), a
// table of the ids themselves (idtable) or of their 64-bit hashes (hash),
// or nothing (none, the floor). -no-tracks writes no tracks rows: tracks
// as a view over the event tables, as the SQLite warehouse now makes it.
package main

import (
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
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
	key := flag.String("key", "pk", "how duplicates are kept out: pk (id PRIMARY KEY, ON CONFLICT DO NOTHING), "+
		"ledger (no key on id; one row per log message of -per-message events in a sequence-keyed table), "+
		"ledger-index (ledger plus a non-unique index on id), hash (no key on id; a table of the ids' 64-bit hashes), "+
		"none (no duplicate protection: the floor)")
	perMessage := flag.Int("per-message", 147, "events per log message (ledger)")
	noTracks := flag.Bool("no-tracks", false, "write no tracks rows (tracks as a view over the event tables)")
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
	idDecl := "id TEXT PRIMARY KEY NOT NULL"
	if *key != "pk" {
		idDecl = "id TEXT NOT NULL"
	}
	std := []string{idDecl, "anonymous_id TEXT", "user_id TEXT", "event TEXT", "event_text TEXT", "received_at TIMESTAMP", "sent_at TIMESTAMP", "timestamp TIMESTAMP", "original_timestamp TIMESTAMP", "uuid_ts TIMESTAMP"}
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
	conflict := ""
	if *key == "pk" {
		conflict = " ON CONFLICT (id) DO NOTHING"
	} else if *key == "idtable" {
		conflict = " ON CONFLICT DO NOTHING" // no constraint to meet: does SQLite take it?
	}
	var ledger *sql.Stmt
	switch *key {
	case "ledger", "ledger-index":
		if _, err := db.Exec("CREATE TABLE _loaded_messages (seq INTEGER PRIMARY KEY, events INTEGER NOT NULL)"); err != nil {
			panic(err)
		}
		ledger, err = db.Prepare("INSERT INTO _loaded_messages (seq, events) VALUES (?, ?)")
	case "idtable":
		if _, err := db.Exec("CREATE TABLE _loaded_ids (id TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID"); err != nil {
			panic(err)
		}
		ledger, err = db.Prepare("INSERT INTO _loaded_ids (id) VALUES " + strings.TrimSuffix(strings.Repeat("(?),", perInsert), ",") + " ON CONFLICT DO NOTHING RETURNING id")
	case "hash":
		if _, err := db.Exec("CREATE TABLE _loaded_ids (h INTEGER PRIMARY KEY)"); err != nil {
			panic(err)
		}
		ledger, err = db.Prepare("INSERT INTO _loaded_ids (h) VALUES " + strings.TrimSuffix(strings.Repeat("(?),", perInsert), ",") + " ON CONFLICT DO NOTHING")
	}
	if err != nil {
		panic(err)
	}
	for t, cols := range tables {
		if _, err := db.Exec(fmt.Sprintf("CREATE TABLE %q (%s)", t, strings.Join(cols, ", "))); err != nil {
			panic(err)
		}
		if _, err := db.Exec(fmt.Sprintf("CREATE INDEX %q ON %q (received_at)", t+"__received_at", t)); err != nil {
			panic(err)
		}
		if *key == "ledger-index" {
			if _, err := db.Exec(fmt.Sprintf("CREATE INDEX %q ON %q (id)", t+"__id", t)); err != nil {
				panic(err)
			}
		}
		var names []string
		for _, c := range cols {
			names = append(names, `"`+strings.Fields(c)[0]+`"`)
		}
		tuple := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
		mk := func(n int) *sql.Stmt {
			q := fmt.Sprintf("INSERT INTO %q (%s) VALUES %s%s", t, strings.Join(names, ", "), strings.TrimSuffix(strings.Repeat(tuple+",", n), ","), conflict)
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
			if !*noTracks {
				byTable["tracks"] = append(byTable["tracks"], row(n, len(tables["tracks"]))...)
				count["tracks"]++
			}
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
		switch *key {
		case "ledger", "ledger-index":
			st := tx.Stmt(ledger)
			for m := (start + *perMessage - 1) / *perMessage; m*(*perMessage) < end; m++ {
				if _, err := st.Exec(m, *perMessage); err != nil {
					panic(err)
				}
			}
		case "idtable":
			st := tx.Stmt(ledger)
			var ids []any
			fresh := 0
			for n := start; n < end; n++ {
				ids = append(ids, row(n, 1)[0])
				if len(ids) == perInsert || n == end-1 {
					for len(ids) < perInsert {
						ids = append(ids, ids[0])
					}
					rs, err := st.Query(ids...)
					if err != nil {
						panic(err)
					}
					for rs.Next() {
						var id string
						if err := rs.Scan(&id); err != nil {
							panic(err)
						}
						fresh++
					}
					if err := rs.Err(); err != nil {
						panic(err)
					}
					ids = ids[:0]
				}
			}
			if fresh != end-start {
				panic(fmt.Sprint("fresh ", fresh))
			}
		case "hash":
			st := tx.Stmt(ledger)
			var hs []any
			for n := start; n < end; n++ {
				h := sha256.Sum256([]byte(fmt.Sprint(n)))
				hs = append(hs, int64(binary.LittleEndian.Uint64(h[:8])))
				if len(hs) == perInsert {
					if _, err := st.Exec(hs...); err != nil {
						panic(err)
					}
					hs = hs[:0]
				}
			}
		}
		if err := tx.Commit(); err != nil {
			panic(err)
		}
		used += cpu() - t0
		wall += time.Since(w0)
	}
	fmt.Printf("%-8s key=%s page=%d: %d events, %d per tx: %.0f events/s (wall time in transactions), %.1f cpu-µs/event (loading only)\n", driver, *key, *pageSize, *events, *group, float64(*events)/wall.Seconds(), float64(used.Microseconds())/float64(*events))
}
