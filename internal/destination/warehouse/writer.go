package warehouse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	wh "github.com/statsig-bridge/statsig-bridge/internal/warehouse"
)

// Defaults.
const (
	// DefaultMaxColumns keeps a margin under Postgres's 1,600 columns per
	// table (dropped columns count too) and SQLite's 2,000.
	DefaultMaxColumns = 1500
	// MaxBatchItems is the most messages of one Write. Every worker's
	// batch and every queued one is held in memory, so smaller batches
	// hold fewer events in flight; 1,000 loads Postgres as fast as 2,500
	// (BENCHMARKS.md, Warehouse), and SQLite commits the Writes waiting for
	// its one writer together (see sqliteDB.load).
	MaxBatchItems = 1000
)

// Config configures a Writer.
type Config struct {
	// Driver is "sqlite" or "postgres".
	Driver string
	// DSN is the SQLite file path or the Postgres connection string.
	DSN string
	// Schema is the source's schema (Postgres); SQLite keeps one file per
	// source, so the tables live in its main database.
	Schema string
	// MaxColumns caps the columns of a table; DefaultMaxColumns when 0.
	MaxColumns int
	// MaxStringLength truncates a property's or context field's string
	// to this many characters (0: kept whole). 512 is Segment's: its
	// warehouses store VARCHAR(512) and truncate longer strings.
	MaxStringLength int
	Logger          *slog.Logger
	// Now is the clock of uuid_ts; time.Now when nil.
	Now func() time.Time
}

// Writer loads batches of Track messages, one transaction per batch. It is
// safe for concurrent use: batches load in parallel, DDL on a table is
// serialised.
type Writer struct {
	cfg Config
	db  dialect
	log *slog.Logger

	setupMu   sync.Mutex
	setupDone atomic.Bool

	mu     sync.Mutex // guards tables
	tables map[string]*table

	noticeMu sync.Mutex
	notices  map[Notice]int64
}

// table is what the writer knows of a table's columns.
type table struct {
	// ddl serialises creating the table and adding columns, each after a
	// fresh read of the catalogue.
	ddl sync.Mutex
	// cols is the column set last read or made (copy on write).
	cols atomic.Pointer[map[string]wh.Type]
}

// Notice is a kind of value the warehouse did not load as sent.
type Notice struct {
	// Kind is "type_conflict" (stored NULL), "reserved_name" (a property
	// named like a standard column, dropped), "column_cap" (over the
	// column cap, dropped) or "empty_name" (nothing left after
	// snake-casing, dropped).
	Kind   string
	Table  string
	Column string
}

var _ destination.Writer = (*Writer)(nil)

// dialect is what differs between databases.
type dialect interface {
	// setup makes the schema.
	setup(ctx context.Context) error
	// columns reads a table's columns from the catalogue; nil when the
	// table does not exist.
	columns(ctx context.Context, table string) (map[string]wh.Type, error)
	createTable(ctx context.Context, table string, cols []wh.Column) error
	addColumns(ctx context.Context, table string, cols []wh.Column) error
	// derived reports whether the database derives table's rows itself
	// (SQLite's tracks view): its columns are kept, its rows not loaded.
	derived(table string) bool
	// values turns a batch's rows into the driver's values. It runs
	// before load, outside any lock: batches of several workers convert
	// in parallel while the database loads another.
	values(b *tableBatch)
	// load inserts every batch in one transaction, skipping ids present.
	load(ctx context.Context, batches []tableBatch) error
	// upsert inserts or updates rows by id (the users table), keeping a
	// column's value where the row has none and a newer row's values.
	upsert(ctx context.Context, b tableBatch) error
	// classify turns a load error into the runner's error types.
	classify(err error) (wrapped error, staleCatalogue bool)
	close() error
}

// tableBatch is the rows of one table in one load.
type tableBatch struct {
	table string
	cols  []string
	types []wh.Type
	rows  [][]any
	// args are the rows' values one after the other, as the driver takes
	// them (SQLite; see values).
	args []any
	// copy is the rows as binary COPY data, or nil (Postgres; see values).
	copy []byte
}

// New opens the warehouse. It does not connect to Postgres yet: the first
// batch does, so the bridge starts while the database is down.
func New(cfg Config) (*Writer, error) {
	if cfg.MaxColumns <= 0 {
		cfg.MaxColumns = DefaultMaxColumns
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Schema == "" {
		cfg.Schema = "statsig"
	}
	var (
		db  dialect
		err error
	)
	switch cfg.Driver {
	case "sqlite":
		db, err = openSQLite(cfg.DSN, cfg.Logger)
	case "postgres":
		db, err = openPostgres(cfg.DSN, cfg.Schema)
	default:
		err = fmt.Errorf("unknown warehouse driver %q (sqlite or postgres)", cfg.Driver)
	}
	if err != nil {
		return nil, err
	}
	return &Writer{
		cfg: cfg, db: db, tables: map[string]*table{}, notices: map[Notice]int64{},
		log: cfg.Logger.With("driver", cfg.Driver, "schema", cfg.Schema),
	}, nil
}

// Close releases the connections.
func (w *Writer) Close() error { return w.db.close() }

// Limits implements destination.Writer.
func (w *Writer) Limits() destination.Limits {
	return destination.Limits{MaxItems: MaxBatchItems, MaxBytes: 32 << 20, MaxItemBytes: MaxItemBytes}
}

// MaxItemBytes bounds one message: no database limit comes near, it only
// keeps one event from holding a batch's memory.
const MaxItemBytes = 1 << 20

// Notices returns how many values of each kind were not loaded as sent.
func (w *Writer) Notices() map[Notice]int64 {
	w.noticeMu.Lock()
	defer w.noticeMu.Unlock()
	out := make(map[Notice]int64, len(w.notices))
	for k, v := range w.notices {
		out[k] = v
	}
	return out
}

func (w *Writer) notice(kind, tbl, col string) {
	n := Notice{Kind: kind, Table: tbl, Column: col}
	w.noticeMu.Lock()
	w.notices[n]++
	count := w.notices[n]
	w.noticeMu.Unlock()
	if count == 1 || count%10_000 == 0 {
		msg := map[string]string{
			"type_conflict": "a value does not fit its column's type and was stored as NULL (columns keep the type of their first value)",
			"reserved_name": "a property is named like a standard column and was dropped",
			"column_cap":    "the table has reached its column cap; a new property was dropped",
			"empty_name":    "a property's name has nothing left after snake-casing; it was dropped",
			"truncated":     "a string was longer than warehouse.max_string_length and was truncated",
		}[kind]
		w.log.Warn("warehouse: "+msg, "table", tbl, "column", col, "times", count)
	}
}

// Write implements destination.Writer: the messages load in one
// transaction, a row in `tracks` (unless the database derives it: SQLite's
// view) and one in the event's table each; a messageId already loaded adds
// no row.
func (w *Writer) Write(ctx context.Context, payloads [][]byte) error {
	return w.WriteParsed(ctx, payloads, nil)
}

var _ destination.ParsedWriter = (*Writer)(nil)

// WriteParsed implements destination.ParsedWriter: parsed[i], when set, is
// what Encoder kept of payloads[i]'s mapped Track (see mapped), from which
// its row is built; the others are read from the payload.
func (w *Writer) WriteParsed(ctx context.Context, payloads [][]byte, parsed []any) error {
	rows := make([]wh.Row, 0, len(payloads))
	seen := make(map[string]bool, len(payloads))
	for i, p := range payloads {
		var (
			r   wh.Row
			err error
		)
		ok := false
		if m, isMapped := at(parsed, i).(*mapped); isMapped {
			r, ok = m.row(p)
		}
		if !ok {
			r, err = parseMessage(p)
		}
		if err != nil {
			return &destination.PermanentError{Err: err, Response: err.Error()}
		}
		if seen[r.ID] {
			continue
		}
		seen[r.ID] = true
		rows = append(rows, r)
	}
	if err := w.setup(ctx); err != nil {
		return err
	}
	batches, err := w.plan(ctx, rows)
	if err != nil {
		return err
	}
	for i := range batches {
		w.db.values(&batches[i])
	}
	err = w.db.load(ctx, batches)
	if err == nil {
		err = w.loadUsers(ctx, rows)
	}
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	wrapped, stale := w.db.classify(err)
	if stale {
		w.forget()
	}
	return wrapped
}

// at is parsed[i], nil past its end.
func at(parsed []any, i int) any {
	if i < len(parsed) {
		return parsed[i]
	}
	return nil
}

func (w *Writer) setup(ctx context.Context) error {
	if w.setupDone.Load() {
		return nil
	}
	w.setupMu.Lock()
	defer w.setupMu.Unlock()
	if w.setupDone.Load() {
		return nil
	}
	if err := w.db.setup(ctx); err != nil {
		e, _ := w.db.classify(err)
		return e
	}
	w.setupDone.Store(true)
	return nil
}

// forget drops what the writer knows of the catalogue (someone dropped a
// table or column): the retry reads it again.
func (w *Writer) forget() {
	w.mu.Lock()
	w.tables = map[string]*table{}
	w.mu.Unlock()
	w.setupDone.Store(false)
}

// want is a table's columns needed by one batch, in first-seen order,
// typed by their first non-null value.
type want struct {
	name  string
	rows  []*wh.Row
	cols  []wh.Column
	index map[string]int
}

func (t *want) add(f wh.Field) {
	if _, ok := t.index[f.Column]; ok {
		return
	}
	t.index[f.Column] = len(t.cols)
	t.cols = append(t.cols, wh.Column{Name: f.Column, Type: wh.Infer(f.Value)})
}

// plan makes sure every table and column the rows need exists (DDL before
// the load transaction, so a long load never holds a DDL lock) and builds
// the rows to insert.
func (w *Writer) plan(ctx context.Context, rows []wh.Row) ([]tableBatch, error) {
	tracks := &want{name: wh.TracksTable, index: map[string]int{}}
	byTable := map[string]*want{}
	var order []string
	for i := range rows {
		r := &rows[i]
		if r.Table != wh.IdentifiesTable { // an identify is no track
			tracks.rows = append(tracks.rows, r)
			for _, f := range r.Context {
				tracks.add(f)
			}
		}
		t := byTable[r.Table]
		if t == nil {
			t = &want{name: r.Table, index: map[string]int{}}
			byTable[r.Table] = t
			order = append(order, r.Table)
		}
		t.rows = append(t.rows, r)
		for _, f := range r.Context {
			t.add(f)
		}
		for _, f := range r.Properties {
			t.add(f)
		}
		for _, c := range r.Dropped {
			kind := "reserved_name"
			if c == "" {
				kind = "empty_name"
			}
			w.notice(kind, r.Table, c)
		}
	}
	now := w.cfg.Now().UTC()
	// tracks first: Postgres's load takes its keys before any event
	// table's rows (see postgres.load).
	out := make([]tableBatch, 0, len(order)+1)
	var derivedTracks map[string]wh.Type
	for _, t := range append([]*want{tracks}, mapValues(byTable, order)...) {
		if derivedTracks != nil && t.name != wh.IdentifiesTable {
			// tracks reads its context columns from the event tables:
			// each gets tracks's type (its first value across every
			// event), so tracks holds what a table of its own would.
			for i, c := range t.cols {
				if typ, ok := derivedTracks[c.Name]; ok {
					t.cols[i].Type = typ
				}
			}
		}
		cols, err := w.ensure(ctx, t.name, t.cols)
		if err != nil {
			return nil, err
		}
		if w.db.derived(t.name) {
			derivedTracks = cols
			continue
		}
		out = append(out, w.rowsOf(t, cols, t.name != wh.TracksTable, now))
	}
	return out, nil
}

func mapValues(m map[string]*want, order []string) []*want {
	out := make([]*want, len(order))
	for i, k := range order {
		out[i] = m[k]
	}
	return out
}

// rowsOf converts a table's rows to its column types.
func (w *Writer) rowsOf(t *want, cols map[string]wh.Type, withProps bool, now time.Time) tableBatch {
	b := tableBatch{table: t.name}
	std := wh.StandardColumnsOf(t.name)
	for _, c := range std {
		b.cols = append(b.cols, c.Name)
		b.types = append(b.types, c.Type)
	}
	pos := make(map[string]int, len(t.cols))
	// Columns by name: batches of a table then share one column list, and
	// so one cached INSERT (SQLite).
	sorted := slices.SortedFunc(slices.Values(t.cols), func(a, b wh.Column) int { return strings.Compare(a.Name, b.Name) })
	for _, c := range sorted {
		typ, ok := cols[c.Name]
		if !ok {
			continue // over the column cap: reported by ensure
		}
		pos[c.Name] = len(b.cols)
		b.cols = append(b.cols, c.Name)
		b.types = append(b.types, typ)
	}
	b.rows = make([][]any, len(t.rows))
	// One array for the table's values and uuid_ts boxed once: a slice
	// per row and a boxed time per row were a third of the writer's
	// allocations.
	n := len(b.cols)
	values := make([]any, len(t.rows)*n)
	var nowValue any = now
	box := newBoxes(n)
	for i, r := range t.rows {
		row := values[i*n : (i+1)*n : (i+1)*n]
		if len(std) == len(wh.StandardColumns) {
			row[0] = r.ID
			row[1] = box.str(1, r.AnonymousID)
			row[2] = box.str(2, r.UserID)
			if e, ok := eventName(r); ok {
				row[3] = box.text(3, e)
			}
			row[4] = box.text(4, r.EventText)
			row[5] = box.time(5, r.ReceivedAt)
			row[6] = box.time(6, r.SentAt)
			row[7] = box.time(7, r.Timestamp)
			row[8] = box.time(8, r.OriginalTimestamp)
			row[9] = nowValue
		} else {
			for j, c := range std {
				row[j] = standardValue(r, c.Name, nowValue)
			}
		}
		set := func(fields []wh.Field) {
			for _, f := range fields {
				j, ok := pos[f.Column]
				if !ok {
					continue
				}
				v, ok := box.converted(j, f.Value, b.types[j])
				if !ok {
					w.notice("type_conflict", t.name, f.Column)
				}
				keep := ok
				if str, isStr := v.(string); isStr && w.cfg.MaxStringLength > 0 {
					if cut, truncated := wh.Truncate(str, w.cfg.MaxStringLength); truncated {
						v, keep = cut, false // noticed again for each row
						w.notice("truncated", t.name, f.Column)
					}
				}
				if keep {
					box.keep(j, f.Value, v)
				}
				row[j] = v
			}
		}
		set(r.Context)
		if withProps {
			set(r.Properties)
		}
		b.rows[i] = row
	}
	return b
}

// standardValue is a row's value of a standard column, for the tables
// with fewer standard columns than tracks (identifies, users).
func standardValue(r *wh.Row, column string, now any) any {
	switch column {
	case "id":
		return r.ID
	case "anonymous_id":
		return nullString(r.AnonymousID)
	case "user_id":
		return nullString(r.UserID)
	case "event":
		return eventColumn(r)
	case "event_text":
		return r.EventText
	case "received_at":
		return nullTime(r.ReceivedAt)
	case "sent_at":
		return nullTime(r.SentAt)
	case "timestamp":
		return nullTime(r.Timestamp)
	case "original_timestamp":
		return nullTime(r.OriginalTimestamp)
	case "uuid_ts":
		return now
	}
	return nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// ensure returns the table's columns once it has every column of need (up
// to the column cap). Creating the table and adding columns happen under
// the table's lock after a fresh read of the catalogue, so two workers
// adding the same column do not both try.
func (w *Writer) ensure(ctx context.Context, name string, need []wh.Column) (map[string]wh.Type, error) {
	w.mu.Lock()
	t := w.tables[name]
	if t == nil {
		t = &table{}
		w.tables[name] = t
	}
	w.mu.Unlock()
	if cols := t.cols.Load(); cols != nil && hasAll(*cols, need) {
		return *cols, nil
	}
	t.ddl.Lock()
	defer t.ddl.Unlock()
	if cols := t.cols.Load(); cols != nil && hasAll(*cols, need) {
		return *cols, nil
	}
	cols, err := w.db.columns(ctx, name)
	if err != nil {
		return nil, w.ddlError("reading the columns of "+name, err)
	}
	var missing []wh.Column
	for _, c := range need {
		if _, ok := cols[c.Name]; !ok {
			missing = append(missing, c)
		}
	}
	have := len(cols)
	if cols == nil {
		have = len(wh.StandardColumnsOf(name))
	}
	if room := w.cfg.MaxColumns - have; len(missing) > room {
		for _, c := range missing[max(room, 0):] {
			w.notice("column_cap", name, c.Name)
		}
		missing = missing[:max(room, 0)]
	}
	switch {
	case cols == nil:
		if err := w.db.createTable(ctx, name, missing); err != nil {
			return nil, w.ddlError("creating table "+name, err)
		}
	case len(missing) > 0:
		if err := w.db.addColumns(ctx, name, missing); err != nil {
			return nil, w.ddlError("adding columns to "+name, err)
		}
	}
	if cols == nil || len(missing) > 0 {
		// Read back: another process may have added a column first, with
		// the type of its own first value.
		if cols, err = w.db.columns(ctx, name); err != nil {
			return nil, w.ddlError("reading the columns of "+name, err)
		}
		if cols == nil {
			return nil, fmt.Errorf("table %s missing after creating it", name)
		}
	}
	t.cols.Store(&cols)
	return cols, nil
}

// ddlError classifies a catalogue or DDL error: credentials refused pause
// the destination; anything else is retried (a race with another process
// creating the same table is fixed by the retry), never bisected.
func (w *Writer) ddlError(what string, err error) error {
	err = fmt.Errorf("%s: %w", what, err)
	c, _ := w.db.classify(err)
	var auth *destination.AuthError
	if errors.As(c, &auth) {
		return c
	}
	return err
}

func hasAll(cols map[string]wh.Type, need []wh.Column) bool {
	return !slices.ContainsFunc(need, func(c wh.Column) bool {
		_, ok := cols[c.Name]
		return !ok
	})
}

// Check implements destination.Checker: it connects, authenticates and
// makes the schema (Postgres: the database exists, the user may create the
// schema; SQLite: the file can be written).
func (w *Writer) Check(ctx context.Context) (string, error) {
	if err := w.setup(ctx); err != nil {
		return "", err
	}
	return "", nil
}
