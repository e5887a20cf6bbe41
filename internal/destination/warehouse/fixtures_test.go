package warehouse_test

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"
)

// TestFixturesLoadIntoSegmentTables loads every captured Statsig request
// and checks the tables and columns a Segment warehouse would have.
func TestFixturesLoadIntoSegmentTables(t *testing.T) {
	t.Parallel() // its own log, SQLite file and Postgres schema
	eachDB(t, func(t *testing.T, d *db) {
		w := d.open(t)
		total := 0
		for _, f := range loadFixtureRequests(t) {
			p := encodeFixture(t, f, mappingconfig.Options{})
			total += len(p)
			write(t, w, p...)
		}
		wantTables := []string{"add_to_cart", "immediate_event", "logout", "page_view", "review_submitted", "sdk_purchase",
			"signup_completed", "statsig_config_exposure", "statsig_experiment_exposure", "statsig_gate_exposure",
			"statsig_layer_exposure", "tracks"}
		if got := d.tables(t); !slices.Equal(got, wantTables) {
			t.Fatalf("tables:\n got %q\nwant %q", got, wantTables)
		}
		standard := []string{"id", "anonymous_id", "user_id", "event", "event_text", "received_at", "sent_at", "timestamp",
			"original_timestamp", "uuid_ts"}
		context := []string{"context_library_name", "context_library_version", "context_statsig_sdk_type",
			"context_statsig_sdk_version", "context_statsig_source", "context_statsig_environment_tier", "context_traits_email",
			"context_locale", "context_statsig_unit_id", "context_integration_name", "context_integration_version"}
		// tracks: exactly the standard columns and context_*.
		got := slices.Sorted(maps.Keys(d.columns(t, "tracks")))
		want := slices.Sorted(slices.Values(append(slices.Clone(standard), context...)))
		if !slices.Equal(got, want) {
			t.Errorf("tracks columns:\n got %q\nwant %q", got, want)
		}
		props := map[string][]string{
			"statsig_gate_exposure": {"metadata_gate", "metadata_gate_value", "metadata_rule_id", "metadata_reason",
				"metadata_config_sync_time", "metadata_init_time", "metadata_server_time", "metadata_is_manual_exposure"},
			"statsig_config_exposure":     {"metadata_config", "metadata_rule_id", "metadata_rule_passed", "metadata_reason"},
			"statsig_experiment_exposure": {"metadata_config", "metadata_rule_id", "metadata_experiment_group_name", "metadata_allocated_experiment"},
			"statsig_layer_exposure":      {"metadata_config", "metadata_allocated_experiment", "metadata_parameter_name", "metadata_is_explicit_parameter"},
			"add_to_cart":                 {"value", "metadata_sku", "metadata_quantity", "metadata_gift"},
			"page_view":                   {"value", "metadata_page", "metadata_referrer"},
			"sdk_purchase":                {"value", "metadata_sku", "metadata_note"},
			"review_submitted":            {"value", "metadata_comment", "metadata_emoji"},
			"immediate_event":             {"value", "metadata_source"},
			"logout":                      nil,
			"signup_completed":            nil,
		}
		textType := map[string]string{"sqlite": "TEXT", "postgres": "text"}[d.Driver]
		timeType := map[string]string{"sqlite": "TIMESTAMP", "postgres": "timestamp with time zone"}[d.Driver]
		for tbl, want := range props {
			cols := d.columns(t, tbl)
			for _, c := range standard {
				if _, ok := cols[c]; !ok {
					t.Errorf("%s lacks standard column %s", tbl, c)
				}
			}
			for _, c := range []string{"received_at", "sent_at", "timestamp", "original_timestamp", "uuid_ts"} {
				if cols[c] != timeType {
					t.Errorf("%s.%s is %s, want %s", tbl, c, cols[c], timeType)
				}
			}
			// Statsig's metadata values and the go-sdk's value are strings.
			for _, c := range want {
				if cols[c] != textType {
					t.Errorf("%s.%s: type %q, want %s (have %q)", tbl, c, cols[c], textType, slices.Sorted(maps.Keys(cols)))
				}
			}
			for c := range cols {
				if !slices.Contains(standard, c) && !strings.HasPrefix(c, "context_") && !strings.HasPrefix(c, "metadata_") && c != "value" {
					t.Errorf("%s has unexpected column %s", tbl, c)
				}
			}
		}
		// One tracks row and one event-table row per message, same id.
		counts(t, d, map[string]int{"tracks": total})
		sum := 0
		for tbl := range props {
			sum += d.count(t, tbl)
			orphans := d.query(t, `SELECT count(*) FROM "`+tbl+`" e LEFT JOIN tracks t ON t.id = e.id
				WHERE t.id IS NULL OR t.event <> e.event OR t.event <> '`+tbl+`' OR t.event_text <> e.event_text`)
			if orphans[0][0] != "0" {
				t.Errorf("%s: %s rows without a matching tracks row", tbl, orphans[0][0])
			}
		}
		if sum != total {
			t.Errorf("event tables hold %d rows, want %d", sum, total)
		}
		// Segment conformance check 48: received_at is every table's sort
		// key, so each table, tracks included, has an index on it alone.
		// SQLite's tracks is a view: a query of it by received_at searches
		// every event table through that index.
		for _, tbl := range wantTables {
			if tbl == "tracks" && d.Driver == "sqlite" {
				plan := d.query(t, "EXPLAIN QUERY PLAN SELECT id FROM tracks WHERE received_at >= '2025-01-01'")
				searched := 0
				for _, r := range plan {
					detail := r[len(r)-1]
					if name, ok := strings.CutPrefix(detail, "SCAN "); ok && slices.Contains(wantTables[:len(wantTables)-1], strings.Fields(name)[0]) {
						t.Errorf("tracks by received_at scans a whole table: %q", detail)
					}
					if strings.Contains(detail, "USING INDEX") && strings.Contains(detail, "__received_at") {
						searched++
					}
				}
				if searched != len(wantTables)-1 {
					t.Errorf("tracks by received_at searches %d event tables by their received_at index, want %d:\n%q", searched, len(wantTables)-1, plan)
				}
				continue
			}
			if n := receivedAtIndexes(t, d, tbl); n != 1 {
				t.Errorf("%s has %d indexes on (received_at), want 1", tbl, n)
			}
		}
		// The worked example: a gate exposure.
		rows := d.query(t, `SELECT event, event_text, metadata_gate, metadata_gate_value, context_library_name,
			received_at IS NOT NULL, sent_at IS NOT NULL, uuid_ts FROM statsig_gate_exposure
			WHERE metadata_gate = 'sdk_checkout_gate' ORDER BY id LIMIT 1`)
		if len(rows) != 1 {
			t.Fatalf("no sdk_checkout_gate exposure")
		}
		r := rows[0]
		wantRow := []string{"statsig_gate_exposure", "statsig::gate_exposure", "sdk_checkout_gate", r[3], "statsig-bridge", r[5], r[6], "2030-01-02T03:04:05.000Z"}
		if !slices.Equal(r, wantRow) || (r[3] != "true" && r[3] != "false") {
			t.Errorf("gate exposure row %q", r)
		}
		if r[5] != "true" && r[5] != "1" || r[6] != "true" && r[6] != "1" {
			t.Errorf("gate exposure has no received_at or sent_at: %q", r)
		}
	})
}

// receivedAtIndexes counts the indexes of table whose only column is
// received_at, as the database's catalogue lists them.
func receivedAtIndexes(t *testing.T, d *db, table string) int {
	t.Helper()
	q := `SELECT count(*) FROM sqlite_master m WHERE m.type = 'index' AND m.tbl_name = ?
		AND (SELECT group_concat(i.name) FROM pragma_index_info(m.name) i) = 'received_at'`
	if d.Driver == "postgres" {
		q = `SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1
			AND indexdef LIKE '%(received_at)'`
	}
	n, err := strconv.Atoi(d.query(t, q, table)[0][0])
	if err != nil {
		t.Fatal(err)
	}
	return n
}
