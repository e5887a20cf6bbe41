package main

// Warehouse mode: the in-process bridge has one destination, the warehouse
// (SQLite file in the run's data dir, or a Postgres schema made for the
// run), and no Segment sink. The senders stop once -events are accepted.
// By default (-preload) they first fill the log of a bridge with no
// destination; that bridge stops and one with the warehouse starts on the
// same data dir, so its new destination finds the whole backlog and the
// numbers (rate, CPU, peak RSS) are the warehouse's alone, not shared with
// the intake. With -preload=false it loads while the senders send. The
// bridge's own count of events it loaded (its delivered_events_total
// metric, which counts only committed transactions) is polled until every
// accepted event is loaded, and the tables are counted at the end to check
// the metric against the rows actually there:
//
//	go run ./cmd/bridge-load -mode warehouse -warehouse sqlite -events 200000
//	go run ./cmd/bridge-load -mode warehouse -warehouse postgres -events 200000 \
//	    -warehouse-dsn postgres://postgres@127.0.0.1:5432/test?sslmode=disable

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // the SQLite file's row count
)

// warehouseOptions are the flags of -mode warehouse.
type warehouseOptions struct {
	driver  string
	dsn     string
	events  int64
	preload bool
	// beside keeps the default SQLite warehouse on in the other modes.
	beside bool
}

var whOpts warehouseOptions

func init() {
	flag.StringVar(&whOpts.driver, "warehouse", "sqlite", "-mode warehouse: sqlite (a file in the run's data dir) or postgres (a schema made for the run in -warehouse-dsn, dropped after)")
	flag.StringVar(&whOpts.dsn, "warehouse-dsn", os.Getenv("BRIDGE_TEST_POSTGRES_URL"), "-mode warehouse -warehouse postgres: the database (loopback only; default $BRIDGE_TEST_POSTGRES_URL)")
	flag.Int64Var(&whOpts.events, "events", 200_000, "-mode warehouse: events to send (senders stop once this many are accepted, or at -duration)")
	flag.BoolVar(&whOpts.beside, "with-warehouse", false, "e2e and intake modes: keep the default embedded SQLite warehouse on, as a default serve runs (off by default, so the Segment numbers are Segment's alone)")
	flag.BoolVar(&whOpts.preload, "preload", true, "-mode warehouse: fill the log first with no destination, then start the warehouse on the backlog (false: load while sending)")
}

// whRun is the warehouse of this run: where it is and what the bridge has
// loaded so far.
type whRun struct {
	driver, dsn, schema string
	base                string // the bridge's URL, for /metrics

	loaded atomic.Int64
	// heapProfile is written once heapAt events are loaded (mid-load: the
	// memory in use then, not after).
	heapProfile string
	heapAt      int64
	mu          sync.Mutex
	first, last time.Time
	stop        chan struct{}
	done        chan struct{}
}

// newWhRun picks the warehouse of a run whose data dir is dataDir.
func newWhRun() (*whRun, error) {
	w := &whRun{driver: whOpts.driver, stop: make(chan struct{}), done: make(chan struct{})}
	switch whOpts.driver {
	case "sqlite":
	case "postgres":
		if whOpts.dsn == "" {
			return nil, errors.New("-warehouse postgres needs -warehouse-dsn (or BRIDGE_TEST_POSTGRES_URL)")
		}
		cfg, err := pgx.ParseConfig(whOpts.dsn)
		if err != nil {
			return nil, fmt.Errorf("-warehouse-dsn: %w", err)
		}
		if !loopback(cfg.Host) {
			return nil, fmt.Errorf("-warehouse-dsn: only a database on a loopback address may be loaded (host %s)", cfg.Host)
		}
		w.dsn = whOpts.dsn
		w.schema = fmt.Sprintf("load_%d_%d", os.Getpid(), time.Now().Unix())
	default:
		return nil, fmt.Errorf("-warehouse %q: want sqlite or postgres", whOpts.driver)
	}
	return w, nil
}

// runWarehouse is -mode warehouse.
func runWarehouse(o options) error {
	dir, err := os.MkdirTemp("", "bridge-load-warehouse-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	w, err := newWhRun()
	if err != nil {
		return err
	}
	if w.driver == "sqlite" {
		w.dsn = filepath.Join(dir, "warehouse", "load.db")
	}
	defer w.drop()
	env := func(warehouse bool) map[string]string {
		e := map[string]string{"BRIDGE_LISTEN": "127.0.0.1:0", "BRIDGE_DATA_DIR": dir, "BRIDGE_WAREHOUSE": "off"}
		if o.logMaxBytesSet {
			e["BRIDGE_LOG_MAX_BYTES"] = strconv.FormatInt(o.logMaxBytes, 10)
		}
		if warehouse {
			e["BRIDGE_WAREHOUSE"], e["BRIDGE_WAREHOUSE_DSN"] = w.driver, w.dsn
			if w.schema != "" {
				e["BRIDGE_WAREHOUSE_SCHEMA"] = w.schema
			}
		}
		return e
	}
	send := func(base string) *loadResult {
		ld := &load{opts: o, urls: []string{base + "/v1/log_event"}, maxEvents: whOpts.events}
		return ld.run()
	}
	fmt.Printf("bridge-load: warehouse mode (%s), %d events, %d concurrent requests of %d events, gzip=%v, GOMAXPROCS=%d, preload=%v\n",
		w.driver, whOpts.events, o.concurrency, o.batch, o.gzip, runtime.GOMAXPROCS(0), whOpts.preload)

	var sent *loadResult
	if whOpts.preload {
		base, stop, err := serveBridge(o, env(false))
		if err != nil {
			return err
		}
		sent = send(base)
		if err := stop(); err != nil {
			return fmt.Errorf("stopping the intake-only bridge: %w", err)
		}
		fmt.Printf("preload (intake only): %d events accepted in %.1fs (%.0f/s), %d requests failed\n",
			sent.events, sent.elapsed.Seconds(), float64(sent.events)/sent.elapsed.Seconds(), sent.failed)
		// From here on the peak RSS is the loading bridge's.
		if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
			fmt.Printf("  (peak RSS not reset: %v; it includes the preload)\n", err)
		}
	}
	stopCPU, err := startCPUProfile(o.cpuProfile)
	if err != nil {
		return err
	}
	defer stopCPU()
	cpuStart, start := processCPU(), time.Now()
	base, stop, err := serveBridge(o, env(true))
	if err != nil {
		return err
	}
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	w.heapProfile = o.memProfile
	w.watch(base)
	if sent == nil {
		sent = send(base)
	}
	if sent.events == 0 {
		return fmt.Errorf("no event was accepted (%d requests failed): %s", sent.failed, sent.firstErr)
	}
	w.heapAt = sent.events / 2
	sendEnd := time.Now()
	drainEnd := w.wait(sent.events, o.drain)
	cpu := processCPU() - cpuStart
	pprof.StopCPUProfile()
	w.close()

	if !whOpts.preload {
		report(os.Stdout, o, sent, nil, sendEnd, drainEnd, 0, cpu, true)
	} else {
		fmt.Printf("\nloading (the warehouse bridge alone, from its start)\n")
		fmt.Printf("  cpu time            %.1fs in %.1fs (%.2f cores)\n", cpu.Seconds(), drainEnd.Sub(start).Seconds(), cpu.Seconds()/drainEnd.Sub(start).Seconds())
		fmt.Printf("  cpu-µs/event        %.2f (per loaded event: fetch, decode, map, load)\n", float64(cpu.Microseconds())/float64(max(w.loaded.Load(), 1)))
		fmt.Printf("  RSS peak / now      %s / %s\n", procStatus("VmHWM"), procStatus("VmRSS"))
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Printf("  Go heap in use      %.0f MB, %d GCs\n", float64(ms.HeapInuse)/1e6, ms.NumGC)
	}
	err = stop()
	stop = nil
	if err != nil {
		return fmt.Errorf("stopping the bridge: %w", err)
	}
	w.report(os.Stdout, sent.events, sendEnd, drainEnd)
	return nil
}

// watch polls the bridge's delivered count for the warehouse every 100 ms
// until close.
func (w *whRun) watch(base string) {
	w.base = base
	go func() {
		defer close(w.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if n, err := deliveredMetric(base, "warehouse"); err == nil && n != w.loaded.Load() {
				now := time.Now()
				w.mu.Lock()
				if w.first.IsZero() {
					w.first = now
				}
				w.last = now
				w.mu.Unlock()
				w.loaded.Store(n)
				if w.heapProfile != "" && w.heapAt > 0 && n >= w.heapAt {
					if err := writeInuseProfile(w.heapProfile); err != nil {
						fmt.Fprintf(os.Stderr, "bridge-load: heap profile: %v\n", err)
					}
					w.heapProfile = ""
				}
			}
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
		}
	}()
}

// wait returns once want events are loaded, nothing has loaded for 15 s,
// or max has passed.
func (w *whRun) wait(want int64, max time.Duration) time.Time {
	deadline := time.Now().Add(max)
	lastN, lastChange := w.loaded.Load(), time.Now()
	for time.Now().Before(deadline) {
		n := w.loaded.Load()
		if n >= want {
			break
		}
		if n != lastN {
			lastN, lastChange = n, time.Now()
		} else if time.Since(lastChange) > 15*time.Second {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Now()
}

func (w *whRun) close() {
	close(w.stop)
	<-w.done
}

// report prints the loaded rate and checks the bridge's count against the
// rows in the tables.
func (w *whRun) report(out io.Writer, accepted int64, sendEnd, drainEnd time.Time) {
	w.mu.Lock()
	first, last := w.first, w.last
	w.mu.Unlock()
	n := w.loaded.Load()
	fmt.Fprintf(out, "warehouse (%s)\n", w.driver)
	fmt.Fprintf(out, "  events loaded       %d of %d accepted (the bridge's delivered count)\n", n, accepted)
	if n > 0 && last.After(first) {
		fmt.Fprintf(out, "  events/s loaded     %.0f (first to last load seen, %.1fs; polled every 100 ms)\n", float64(n)/last.Sub(first).Seconds(), last.Sub(first).Seconds())
	}
	fmt.Fprintf(out, "  backlog             %d after waiting %.1fs\n", max(accepted-n, 0), drainEnd.Sub(sendEnd).Seconds())
	tracks, events, err := w.countRows()
	if err != nil {
		fmt.Fprintf(out, "  rows                counting failed: %v\n", err)
		return
	}
	check := "matches"
	if tracks != n || events != n {
		check = "DOES NOT MATCH"
	}
	fmt.Fprintf(out, "  rows                %d in tracks, %d in the event tables (%s the delivered count)\n", tracks, events, check)
}

// countRows counts the rows of tracks and of every other warehouse table.
func (w *whRun) countRows() (tracks, events int64, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var tables []string
	count := func(q func(string) string, query func(string) (int64, error)) error {
		for _, t := range tables {
			c, err := query(q(t))
			if err != nil {
				return fmt.Errorf("counting %s: %w", t, err)
			}
			if t == "tracks" {
				tracks = c
			} else {
				events += c
			}
		}
		return nil
	}
	switch w.driver {
	case "sqlite":
		db, err := sql.Open("sqlite", "file:"+w.dsn+"?mode=ro")
		if err != nil {
			return 0, 0, err
		}
		defer db.Close()
		// Not the bridge's own bookkeeping (the loaded-events ledger);
		// tracks is a view over the event tables in a file this version
		// made.
		rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE '\_bridge\_%' ESCAPE '\'`)
		if err != nil {
			return 0, 0, err
		}
		for rows.Next() {
			var t string
			if err := rows.Scan(&t); err != nil {
				rows.Close()
				return 0, 0, err
			}
			tables = append(tables, t)
		}
		rows.Close()
		err = count(func(t string) string { return "SELECT count(*) FROM " + pgx.Identifier{t}.Sanitize() },
			func(q string) (n int64, err error) { return n, db.QueryRowContext(ctx, q).Scan(&n) })
		return tracks, events, err
	default:
		conn, err := pgx.Connect(ctx, w.dsn)
		if err != nil {
			return 0, 0, err
		}
		defer conn.Close(ctx)
		rows, err := conn.Query(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", w.schema)
		if err != nil {
			return 0, 0, err
		}
		if tables, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return 0, 0, err
		}
		err = count(func(t string) string { return "SELECT count(*) FROM " + pgx.Identifier{w.schema, t}.Sanitize() },
			func(q string) (n int64, err error) { return n, conn.QueryRow(ctx, q).Scan(&n) })
		return tracks, events, err
	}
}

// drop removes the run's Postgres schema (the SQLite file goes with the
// data dir).
func (w *whRun) drop() {
	if w.driver != "postgres" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, w.dsn)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bridge-load: dropping schema %s: %v\n", w.schema, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{w.schema}.Sanitize()+" CASCADE"); err != nil {
		fmt.Fprintf(os.Stderr, "bridge-load: dropping schema %s: %v\n", w.schema, err)
	}
}

// reportBeside prints what the warehouse beside Segment (-with-warehouse)
// loaded by the end of the run, then waits for it to load the rest (it
// gives way to intake and Segment while they keep the CPU busy, up to
// warehouse.max_lag)
// and prints how long that took and the peak RSS with it.
func reportBeside(out io.Writer, base string, accepted int64, wait time.Duration) {
	base = strings.TrimRight(base, "/")
	n, err := deliveredMetric(base, "warehouse")
	if err != nil {
		fmt.Fprintf(out, "warehouse beside: reading its count: %v\n", err)
		return
	}
	fmt.Fprintf(out, "warehouse beside (SQLite)\n")
	fmt.Fprintf(out, "  events loaded       %d of %d accepted by the end (backlog %d)\n", n, accepted, max(accepted-n, 0))
	start, from := time.Now(), n
	for n < accepted && time.Since(start) < wait {
		time.Sleep(100 * time.Millisecond)
		if n, err = deliveredMetric(base, "warehouse"); err != nil {
			fmt.Fprintf(out, "warehouse beside: reading its count: %v\n", err)
			return
		}
	}
	took := time.Since(start)
	state := "caught up"
	if n < accepted {
		state = fmt.Sprintf("NOT caught up (%d left)", accepted-n)
	}
	fmt.Fprintf(out, "  then                %s %.1fs later, loading %.0f events/s\n", state, took.Seconds(), float64(n-from)/took.Seconds())
	if y, err := counterMetric(base, "statsig_bridge_yielded_seconds_total{", `destination="warehouse"`); err == nil {
		fmt.Fprintf(out, "  gave way            %.1fs to intake and Segment (yielded_seconds_total, summed over its fetch loops)\n", y)
	}
	fmt.Fprintf(out, "  RSS peak            %s (whole process, the catch-up included)\n", procStatus("VmHWM"))
}

func writeInuseProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("heap").WriteTo(f, 0)
}

// deliveredMetric sums statsig_bridge_delivered_events_total of one
// destination from the bridge's /metrics.
func deliveredMetric(base, dest string) (int64, error) {
	v, err := counterMetric(base, "statsig_bridge_delivered_events_total{", `destination="`+dest+`"`)
	return int64(v), err
}

// counterMetric sums the series of one metric (name ends with "{") that
// carry label, from the bridge's /metrics.
func counterMetric(base, name, label string) (float64, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("/metrics: HTTP %d", resp.StatusCode)
	}
	var total float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || !strings.Contains(line, label) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("/metrics: %q: %w", line, err)
		}
		total += v
	}
	return total, sc.Err()
}
