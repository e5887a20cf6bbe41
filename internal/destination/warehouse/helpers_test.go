package warehouse_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/klauspost/compress/zstd"
	_ "modernc.org/sqlite"

	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/destination/warehouse"
	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// testLogger logs only when BRIDGE_TEST_LOG=debug.
func testLogger() *slog.Logger {
	if os.Getenv("BRIDGE_TEST_LOG") == "debug" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// loadTime is the fixed uuid_ts of test loads.
var loadTime = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// db is a warehouse under test and a way to query it as a user would.
type db struct {
	Driver string
	cfg    warehouse.Config
	query  func(t testing.TB, q string, args ...any) [][]string
	// columns returns a table's columns and their types in the
	// database's own words.
	columns func(t testing.TB, table string) map[string]string
	tables  func(t testing.TB) []string
}

// open returns a new Writer on the database (closed at the end of the
// test); several Writers on one db act as restarted bridges.
func (d *db) open(t testing.TB, tweak ...func(*warehouse.Config)) *warehouse.Writer {
	t.Helper()
	cfg := d.cfg
	for _, f := range tweak {
		f(&cfg)
	}
	w, err := warehouse.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// count returns the rows of a table.
func (d *db) count(t testing.TB, table string) int {
	t.Helper()
	n, err := strconv.Atoi(d.query(t, `SELECT count(*) FROM "`+table+`"`)[0][0])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// counts checks the rows of each table.
func counts(t *testing.T, d *db, want map[string]int) {
	t.Helper()
	for table, n := range want {
		if got := d.count(t, table); got != n {
			t.Errorf("%s has %d rows, want %d", table, got, n)
		}
	}
}

// eachDB runs f on a fresh SQLite file and, when BRIDGE_TEST_POSTGRES_URL
// is set, on a fresh Postgres schema.
func eachDB(t *testing.T, f func(t *testing.T, d *db)) {
	t.Run("sqlite", func(t *testing.T) { f(t, sqliteDB(t)) })
	t.Run("postgres", func(t *testing.T) { f(t, postgresDB(t)) })
}

func sqliteDB(t testing.TB) *db {
	path := filepath.Join(t.TempDir(), "warehouse", "statsig.db")
	d := &db{Driver: "sqlite", cfg: warehouse.Config{Driver: "sqlite", DSN: path, Schema: "statsig", Logger: testLogger(),
		Now: func() time.Time { return loadTime }}}
	var conn *sql.DB
	open := func(t testing.TB) *sql.DB {
		if conn == nil {
			c, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
			if err != nil {
				t.Fatal(err)
			}
			conn = c
			t.Cleanup(func() { c.Close() })
		}
		return conn
	}
	d.query = func(t testing.TB, q string, args ...any) [][]string {
		t.Helper()
		return sqlRows(t, open(t), q, args...)
	}
	d.columns = func(t testing.TB, table string) map[string]string {
		t.Helper()
		out := map[string]string{}
		for _, r := range d.query(t, "SELECT name, type FROM pragma_table_info(?)", table) {
			out[r[0]] = r[1]
		}
		return out
	}
	d.tables = func(t testing.TB) []string {
		t.Helper()
		var out []string
		// The bridge's own bookkeeping (the loaded-events ledger) is no
		// warehouse table; tracks is a view (sqlite_tracks.go).
		for _, r := range d.query(t, "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE '\\_bridge\\_%' ESCAPE '\\' ORDER BY name") {
			out = append(out, r[0])
		}
		return out
	}
	return d
}

var schemaSeq atomic.Int64

func postgresDB(t testing.TB) *db {
	t.Helper()
	dsn := os.Getenv("BRIDGE_TEST_POSTGRES_URL")
	if dsn == "" {
		t.Skip("BRIDGE_TEST_POSTGRES_URL is not set: skipping the Postgres warehouse test (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	schema := fmt.Sprintf("bridge_test_%d_%d", os.Getpid(), schemaSeq.Add(1))
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	pcfg.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := pool.Exec(ctx, `DROP SCHEMA IF EXISTS "`+schema+`" CASCADE`); err != nil {
			t.Errorf("dropping test schema %s: %v", schema, err)
		}
		pool.Close()
	})
	d := &db{Driver: "postgres", cfg: warehouse.Config{Driver: "postgres", DSN: dsn, Schema: schema, Logger: testLogger(),
		Now: func() time.Time { return loadTime }}}
	d.query = func(t testing.TB, q string, args ...any) [][]string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rows, err := pool.Query(ctx, q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		var out [][]string
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			r := make([]string, len(vals))
			for i, v := range vals {
				r[i] = text(v)
			}
			out = append(out, r)
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return out
	}
	d.columns = func(t testing.TB, table string) map[string]string {
		t.Helper()
		out := map[string]string{}
		for _, r := range d.query(t, "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2", schema, table) {
			out[r[0]] = r[1]
		}
		return out
	}
	d.tables = func(t testing.TB) []string {
		t.Helper()
		var out []string
		for _, r := range d.query(t, "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name", schema) {
			out = append(out, r[0])
		}
		return out
	}
	return d
}

// text renders a scanned value as a user reads it; NULL is "NULL".
func text(v any) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case time.Time:
		return v.UTC().Format("2006-01-02T15:04:05.000Z")
	case []byte:
		return string(v)
	}
	return fmt.Sprint(v)
}

func sqlRows(t testing.TB, c *sql.DB, q string, args ...any) [][]string {
	t.Helper()
	rows, err := c.Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		r := make([]string, len(cols))
		for i, v := range vals {
			r[i] = text(v)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

// write loads payloads and fails the test on an error.
func write(t testing.TB, w *warehouse.Writer, payloads ...[]byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.Write(ctx, payloads); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

// writeConcurrently has writers goroutines each Write rounds batches to
// w at once, batch(g, r) the batch of writer g's round r.
func writeConcurrently(t *testing.T, w *warehouse.Writer, writers, rounds int, batch func(g, r int) [][]byte) {
	t.Helper()
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for r := range rounds {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				if err := w.Write(ctx, batch(g, r)); err != nil {
					t.Errorf("writer %d, round %d: %v", g, r, err)
				}
				cancel()
			}
		})
	}
	wg.Wait()
}

// track is a Track message as the warehouse encoder makes it.
func track(id, event, props string) []byte {
	return fmt.Appendf(nil, `{"type":"track","event":%q,"userId":"u-%s","messageId":%q,"timestamp":"2025-01-02T03:04:05.000Z","originalTimestamp":"2025-01-02T03:04:04.900Z","properties":%s,"context":{"library":{"name":"statsig-bridge","version":"test"}},"receivedAt":"2025-01-02T03:04:06.000Z","sentAt":"2025-01-02T03:04:05.500Z"}`,
		event, id, id, props)
}

// fixtureRequest is one captured request: NAME.headers + NAME.body.
type fixtureRequest struct {
	Folder, Name, Path string
	Query              url.Values
	Header             http.Header
	Raw                []byte
}

var fixturesDir = filepath.Join("..", "..", "..", "testdata", "fixtures")

func loadFixtureRequests(t testing.TB) []fixtureRequest {
	t.Helper()
	headers, err := filepath.Glob(filepath.Join(fixturesDir, "*", "*.headers"))
	if err != nil || len(headers) == 0 {
		t.Fatalf("no fixture requests under %s: %v", fixturesDir, err)
	}
	slices.Sort(headers)
	var out []fixtureRequest
	for _, h := range headers {
		hraw, err := os.ReadFile(h)
		if err != nil {
			t.Fatal(err)
		}
		base := strings.TrimSuffix(h, ".headers")
		body, err := os.ReadFile(base + ".body")
		if err != nil {
			t.Fatal(err)
		}
		r := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(hraw, '\n', '\n'))))
		line, _ := r.ReadLine()
		fields := strings.Fields(line)
		u, err := url.ParseRequestURI(fields[1])
		if err != nil {
			t.Fatal(err)
		}
		mh, _ := r.ReadMIMEHeader()
		out = append(out, fixtureRequest{Folder: filepath.Base(filepath.Dir(h)), Name: filepath.Base(base),
			Path: u.Path, Query: u.Query(), Header: http.Header(mh), Raw: body})
	}
	return out
}

func (f *fixtureRequest) get(header, query string) string {
	if v := f.Header.Get(header); v != "" {
		return v
	}
	return f.Query.Get(query)
}

func (f *fixtureRequest) body(t testing.TB) []byte {
	raw := f.Raw
	switch {
	case bytes.HasPrefix(raw, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		out, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		return out
	case bytes.HasPrefix(raw, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		d, err := zstd.NewReader(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		out, err := d.DecodeAll(raw, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	return raw
}

// decode decodes a fixture request as intake does, arriving 150 ms after
// the client sent it.
func (f *fixtureRequest) decode(t testing.TB) *statsig.Batch {
	t.Helper()
	var (
		b   *statsig.Batch
		err error
	)
	if strings.HasPrefix(f.Path, "/webhooks/") {
		ms, _ := strconv.ParseInt(f.Header.Get("X-Statsig-Request-Timestamp"), 10, 64)
		b, _, err = statsig.DecodeWebhook(f.body(t), time.UnixMilli(ms).Add(150*time.Millisecond), 0)
	} else {
		ct, _ := strconv.ParseInt(f.get("Statsig-Client-Time", "t"), 10, 64)
		b, _, err = statsig.DecodeRequest(f.body(t), statsig.RequestInfo{
			ReceivedAt: time.UnixMilli(ct).Add(150 * time.Millisecond), ClientTime: ct,
			SDKKey:     f.get("Statsig-Api-Key", "k"),
			SDKType:    f.get("Statsig-Sdk-Type", "st"),
			SDKVersion: f.get("Statsig-Sdk-Version", "sv"),
			SessionID:  f.get("Statsig-Server-Session-Id", "sid"),
		})
	}
	if err != nil {
		t.Fatalf("%s/%s: %v", f.Folder, f.Name, err)
	}
	return b
}

// specs reads a fixture folder's config specs, nil if it has none.
func specs(t testing.TB, folder string) func() *statsig.Specs {
	raw, err := os.ReadFile(filepath.Join(fixturesDir, folder, "download_config_specs.json"))
	if err != nil {
		return nil
	}
	s, err := statsig.ParseSpecs(raw)
	if err != nil {
		t.Fatalf("%s specs: %v", folder, err)
	}
	return func() *statsig.Specs { return s }
}

// encodeFixture maps a fixture request's events as the warehouse
// destination does.
func encodeFixture(t testing.TB, f fixtureRequest, opts mappingconfig.Options) [][]byte {
	b := f.decode(t)
	enc := warehouse.Encoder{Track: destination.TrackEncoder{
		Mapper: mapping.New(opts, specs(t, f.Folder), mapping.Library{Name: "statsig-bridge", Version: "test"}),
	}}
	var out [][]byte
	for i := range b.Events {
		e := enc.Encode(b, &b.Events[i])
		if e.Filtered || e.Invalid {
			continue
		}
		out = append(out, e.Payload)
		if e.Extra != nil {
			out = append(out, e.Extra)
		}
	}
	return out
}
