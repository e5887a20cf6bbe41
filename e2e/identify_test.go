package e2e

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// userEvent is a custom event of a user with traits.
func userEvent(user map[string]any, name string, at int64) sdkEvent {
	return sdkEvent{EventName: name, User: user, Time: at, Value: 1}
}

// identifyUsers are the test's users: u1 with traits, then u1 with a
// changed plan, and an anonymous user known by stableID only.
var (
	u1Pro  = map[string]any{"userID": "u1", "email": "ada@example.com", "country": "DE", "custom": map[string]any{"plan": "pro", "seats": 3}}
	u1Team = map[string]any{"userID": "u1", "email": "ada@example.com", "country": "DE", "custom": map[string]any{"plan": "team", "seats": 3}}
	anon   = map[string]any{"customIDs": map[string]string{"stableID": "s2"}, "locale": "de_DE"}
)

// TestIdentifyOnChangeEveryDestination: with identify: on_change, Segment,
// the webhook and the warehouse get an identify the first time a user is
// seen and again when the traits change, ahead of the user's event, with
// custom fields as top-level traits; the warehouse loads identifies (one
// row each) and users (one row per user_id, the latest traits).
func TestIdentifyOnChangeEveryDestination(t *testing.T) {
	t.Parallel()
	s := newSink(t)
	h := newHookReceiver(t, "")
	dests := []string{
		fmt.Sprintf("  - name: seg\n    type: segment\n    segment: {write_key: %s, endpoint: %q}\n    mapping: {identify: on_change}\n%s", s.WriteKey, s.URL, testDelivery[1:]),
		webhookYAML("hook", h.URL, "", "{identify: on_change}"),
		"  - name: wh\n    type: warehouse\n    warehouse: {driver: sqlite, schema: ident}\n    mapping: {identify: on_change}\n" + testDelivery[1:],
	}
	pgURL, pgSchema := os.Getenv("BRIDGE_TEST_POSTGRES_URL"), ""
	if pgURL == "" {
		t.Log("BRIDGE_TEST_POSTGRES_URL not set: the Postgres warehouse's identifies and users are not checked")
	} else {
		suffix := make([]byte, 4)
		rand.Read(suffix)
		pgSchema = "ident_" + hex.EncodeToString(suffix)
		dests = append(dests, fmt.Sprintf("  - name: pg\n    type: warehouse\n    warehouse: {driver: postgres, dsn: %q, schema: %s}\n    mapping: {identify: on_change}\n%s", pgURL, pgSchema, testDelivery[1:]))
		t.Cleanup(func() {
			if db, err := sql.Open("pgx", pgURL); err == nil {
				db.Exec(`DROP SCHEMA IF EXISTS "` + pgSchema + `" CASCADE`)
				db.Close()
			}
		})
	}
	b := bridgeFromYAML(t, dests...)
	mustPost(t, b.URL, eventsBody(t,
		userEvent(u1Pro, "viewed", msAgo(10*time.Second)),
		userEvent(u1Pro, "clicked", msAgo(9*time.Second)),
		userEvent(anon, "viewed", msAgo(9*time.Second)),
	))
	mustPost(t, b.URL, eventsBody(t,
		userEvent(u1Pro, "viewed", msAgo(8*time.Second)),  // same traits: no identify
		userEvent(u1Team, "viewed", msAgo(7*time.Second)), // plan changed: identify
		userEvent(anon, "clicked", msAgo(6*time.Second)),  // same: no identify
	))
	db := warehouseDB(t, b.Cfg.DataDir, "ident")
	dbs := map[string]*sql.DB{"sqlite": db}
	if pgURL != "" {
		pg, err := sql.Open("pgx", pgURL)
		if err != nil {
			t.Fatal(err)
		}
		defer pg.Close()
		dbs["postgres"] = pg
	}
	table := func(name, tbl string) string {
		if name == "postgres" {
			return pgSchema + "." + tbl
		}
		return tbl
	}
	testwait.For(t, 30*time.Second, "9 messages at Segment and the webhook, 6 tracks, 3 identifies and u1's latest traits in each warehouse", func() bool {
		hooked, _ := h.Delivered()
		if s.Unique() != 9 || len(hooked) != 9 {
			return false
		}
		for name, db := range dbs {
			// users is loaded after the batch's transaction.
			if countRows(db, "SELECT count(*) FROM "+table(name, "tracks")) != 6 || countRows(db, "SELECT count(*) FROM "+table(name, "identifies")) != 3 ||
				countRows(db, "SELECT count(*) FROM "+table(name, "users")+" WHERE plan = 'team'") != 1 {
				return false
			}
		}
		return true
	})
	// Segment: one identify per user and traits. Copies are possible (two
	// fetches deciding at once) and carry the same messageId, which Segment
	// deduplicates: compare the distinct ones.
	byID := map[string]string{}
	for _, m := range s.Messages() {
		if m["type"] != "identify" {
			continue
		}
		traits, _ := m["traits"].(map[string]any)
		if _, nested := traits["custom"]; nested {
			t.Errorf("custom fields nested under traits.custom: %v", traits)
		}
		id, _ := m["messageId"].(string)
		byID[id] = fmt.Sprintf("%v|%v|%v|%v|%v|%v|%v", m["userId"], m["anonymousId"], traits["email"], traits["country"], traits["plan"], traits["seats"], traits["locale"])
	}
	var got []string
	for _, v := range byID {
		got = append(got, v)
	}
	want := []string{"u1|<nil>|ada@example.com|DE|pro|3|<nil>", "<nil>|s2|<nil>|<nil>|<nil>|<nil>|de_DE", "u1|<nil>|ada@example.com|DE|team|3|<nil>"}
	if strings.Join(sorted(got), "\n") != strings.Join(sorted(want), "\n") {
		t.Errorf("segment identifies:\n%s\nwant:\n%s", strings.Join(sorted(got), "\n"), strings.Join(sorted(want), "\n"))
	}
	hooked, _ := h.Delivered() // one per messageId
	identifies := 0
	for _, m := range hooked {
		if m["type"] == "identify" {
			identifies++
		}
	}
	if identifies != 3 {
		t.Errorf("the webhook got %d identifies, want 3", identifies)
	}
	for name, db := range dbs {
		var plan, email string
		var seats float64
		if err := db.QueryRow("SELECT plan, email, seats FROM "+table(name, "users")+" WHERE id = 'u1'").Scan(&plan, &email, &seats); err != nil {
			t.Errorf("%s: users row of u1: %v", name, err)
		} else if plan != "team" || email != "ada@example.com" || seats != 3 {
			t.Errorf("%s: users row of u1: plan %q email %q seats %v, want the latest traits", name, plan, email, seats)
		}
		if n := countRows(db, "SELECT count(*) FROM "+table(name, "users")); n != 1 {
			t.Errorf("%s: %d users rows, want 1 (the anonymous user has no user_id)", name, n)
		}
		if n := countRows(db, "SELECT count(*) FROM "+table(name, "identifies")+" WHERE plan = 'pro' AND user_id = 'u1' AND context_library_name = 'statsig-bridge'"); n != 1 {
			t.Errorf("%s: %d identifies of u1 on plan pro with the context columns, want 1", name, n)
		}
		// Segment's schema: identifies has no event columns; users has
		// id = user_id and no anonymous_id (nor user_id, event, event_text).
		for tbl, absent := range map[string][]string{
			"identifies": {"event", "event_text"},
			"users":      {"anonymous_id", "user_id", "event", "event_text"},
		} {
			cols := tableColumns(t, db, name, pgSchema, tbl)
			for _, c := range absent {
				if cols[c] {
					t.Errorf("%s: %s has a %s column; Segment's %s table has none", name, tbl, c, tbl)
				}
			}
			for _, c := range []string{"id", "received_at", "uuid_ts", "plan", "email"} {
				if !cols[c] {
					t.Errorf("%s: %s has no %s column", name, tbl, c)
				}
			}
		}
	}
}

// tableColumns returns the column names of a warehouse table: schema is
// Postgres's (name "postgres"), unused for SQLite.
func tableColumns(t *testing.T, db *sql.DB, name, schema, tbl string) map[string]bool {
	t.Helper()
	q, args := "SELECT name FROM pragma_table_info(?)", []any{tbl}
	if name == "postgres" {
		q, args = "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2", []any{schema, tbl}
	}
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatalf("%s: columns of %s: %v", name, tbl, err)
	}
	defer rows.Close()
	cols := map[string]bool{}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		cols[c] = true
	}
	if len(cols) == 0 {
		t.Fatalf("%s: %s has no columns", name, tbl)
	}
	return cols
}

// TestIdentifySurvivesKill9: the traits sent are recorded in the log, so
// after kill -9 and a restart a user whose traits did not change gets no
// identify again, and one whose traits changed does.
func TestIdentifySurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 and restart of a bridge process; go test without -short runs it")
	}
	t.Parallel()
	s := newSink(t)
	path := exposuresConfig(t, s, "{identify: on_change}", "")
	dataDir := t.TempDir()
	env := func() map[string]string {
		return map[string]string{"BRIDGE_LISTEN": freeAddr(t), "BRIDGE_DATA_DIR": dataDir}
	}
	p := startProcessArgs(t, env(), "--config", path)
	mustPost(t, p.URL, eventsBody(t, userEvent(u1Pro, "viewed", msAgo(time.Minute))))
	// Counted delivered once the traits are recorded in the log.
	testwait.For(t, 20*time.Second, "the identify and the event delivered and counted", func() bool {
		return s.Unique() == 2 && metricSum(t, p.URL, "statsig_bridge_delivered_events_total") == 2
	})
	p.Signal(t, syscall.SIGKILL)
	p.Wait(t, 10*time.Second)
	p = startProcessArgs(t, env(), "--config", path)
	mustPost(t, p.URL, eventsBody(t, userEvent(u1Pro, "viewed", msAgo(time.Second))))
	testwait.For(t, 20*time.Second, "the second event delivered", func() bool { return s.Unique() == 3 })
	mustPost(t, p.URL, eventsBody(t, userEvent(u1Team, "viewed", msAgo(500*time.Millisecond))))
	testwait.For(t, 20*time.Second, "the changed traits' identify and the event delivered", func() bool { return s.Unique() == 5 })
	identifies := 0
	for _, m := range s.Messages() {
		if m["type"] == "identify" {
			identifies++
		}
	}
	// Not one identify more: the restarted process read the traits sent
	// from the log.
	if identifies != 2 {
		t.Errorf("%d identifies delivered, want 2 (first sight, then the changed plan)", identifies)
	}
	p.StopGracefully(t, os.Interrupt)
}
