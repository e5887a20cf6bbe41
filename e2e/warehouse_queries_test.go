package e2e

import (
	"bufio"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/statsig-bridge/statsig-bridge/internal/config"
	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// readmeQueries returns the SQL blocks of README.md marked "-- query: NAME".
func readmeQueries(t testing.TB) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```sql\n(.*?)```").FindAllStringSubmatch(string(raw), -1)
	out := map[string]string{}
	for _, b := range blocks {
		if name, ok := strings.CutPrefix(strings.SplitN(b[1], "\n", 2)[0], "-- query: "); ok {
			out[strings.TrimSpace(name)] = b[1]
		}
	}
	for _, want := range []string{"exposures_per_group_per_day", "conversion_by_gate_value", "first_exposure_per_user"} {
		if out[want] == "" {
			t.Fatalf("README has no query %q", want)
		}
	}
	return out
}

// goldenMessage is a Segment message from testdata/golden, the oracle for
// what the queries must return.
type goldenMessage struct {
	Event       string    `json:"event"`
	UserID      string    `json:"userId"`
	AnonymousID string    `json:"anonymousId"`
	Timestamp   time.Time `json:"timestamp"`
	Properties  struct {
		Metadata map[string]any `json:"metadata"`
	} `json:"properties"`
}

func goldenSent(t testing.TB, folder, name string) []goldenMessage {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", "golden", folder, name+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []goldenMessage
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Status  string        `json:"status"`
			Message goldenMessage `json:"message"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		if line.Status == "send" {
			out = append(out, line.Message)
		}
	}
	return out
}

func meta(m goldenMessage, key string) string {
	s, _ := m.Properties.Metadata[key].(string)
	return s
}

func unit(m goldenMessage) string {
	if m.UserID != "" {
		return m.UserID
	}
	return m.AnonymousID
}

// rowsOf runs q and returns every row as strings ("NULL" for null).
func rowsOf(t testing.TB, db *sql.DB, q string) [][]string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("query failed: %v\n%s", err, q)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = "NULL"
			if v.Valid {
				row[i] = v.String
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestREADMEQueriesOnLoadedFixtures loads a real Go SDK request (20 users:
// gates, a config, an experiment, a layer, custom events) with its config
// specs into SQLite and, when BRIDGE_TEST_POSTGRES_URL is set, Postgres,
// runs the README's three queries as written, and checks their answers
// against what the golden Segment output of the same request implies.
func TestREADMEQueriesOnLoadedFixtures(t *testing.T) {
	parallel(t)
	queries := readmeQueries(t)
	const secret = "secret-capture-go-0000000000000000"
	specs := newSpecsServer(t, filepath.Join(fixtures, "go-sdk-layers", "download_config_specs.json"), secret)
	cfg := testConfigEnv(t, "", map[string]string{"BRIDGE_WAREHOUSE": "sqlite"})
	cfg.Specs.ServerSecret = secret
	cfg.Specs.API = specs.URL + "/v1"
	pgURL := os.Getenv("BRIDGE_TEST_POSTGRES_URL")
	var pgSchema string
	if pgURL == "" {
		t.Log("BRIDGE_TEST_POSTGRES_URL not set: running the queries on SQLite only")
	} else {
		suffix := make([]byte, 4)
		rand.Read(suffix)
		pgSchema = "statsig_q_" + hex.EncodeToString(suffix)
		d := config.Destination{Name: "pg", Type: "warehouse",
			Warehouse: &config.Warehouse{Driver: "postgres", DSN: pgURL, Schema: pgSchema}}
		d.Mapping = d.Mapping.WithDefaults()
		d.Delivery = cfg.Destinations[0].Delivery
		cfg.Destinations = append(cfg.Destinations, d)
		t.Cleanup(func() {
			if db, err := sql.Open("pgx", pgURL); err == nil {
				db.Exec(`DROP SCHEMA IF EXISTS "` + pgSchema + `" CASCADE`)
				db.Close()
			}
		})
	}
	b := startBridge(t, cfg)
	if resp := fixtureRequest(t, b.URL, "go-sdk-layers", "log_event-2"); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("intake answered %d", resp.StatusCode)
	}
	sent := goldenSent(t, "go-sdk-layers", "log_event-2")

	sqlite, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer sqlite.Close()
	sqlite.SetMaxOpenConns(1) // ATTACH belongs to one connection
	path := filepath.Join(cfg.DataDir, "warehouse", "statsig.db")
	dbs := map[string]*sql.DB{"sqlite": sqlite}
	rewrite := map[string]func(string) string{
		"sqlite": func(q string) string {
			return strings.ReplaceAll(q, `date_trunc('day', "timestamp")::date`, `date("timestamp")`)
		},
	}
	if pgURL != "" {
		pg, err := sql.Open("pgx", pgURL)
		if err != nil {
			t.Fatal(err)
		}
		defer pg.Close()
		dbs["postgres"] = pg
		schemaRef := regexp.MustCompile(`\bstatsig\.`)
		rewrite["postgres"] = func(q string) string { return schemaRef.ReplaceAllString(q, pgSchema+".") }
	}
	testwait.For(t, 30*time.Second, "every sent message loaded", func() bool {
		if _, err := os.Stat(path); err != nil {
			return false
		}
		if len(rowsOf(t, sqlite, "PRAGMA database_list")) < 2 {
			if _, err := sqlite.Exec(`ATTACH DATABASE '` + path + `' AS statsig`); err != nil {
				return false
			}
		}
		for name, db := range dbs {
			table := "statsig.tracks"
			if name == "postgres" {
				table = pgSchema + ".tracks"
			}
			var n int
			if db.QueryRow("SELECT count(*) FROM "+table).Scan(&n) != nil || n != len(sent) {
				return false
			}
		}
		return true
	})

	for name, db := range dbs {
		t.Run(name, func(t *testing.T) {
			run := func(q string) [][]string { return rowsOf(t, db, rewrite[name](queries[q])) }

			// 1. Exposures per experiment group per day.
			type group struct{ exp, name string }
			wantExposures, wantUnits := map[group]int{}, map[group]map[string]bool{}
			for _, m := range sent {
				if m.Event == "statsig::experiment_exposure" {
					g := group{meta(m, "config"), meta(m, "experimentGroupName")}
					wantExposures[g]++
					if wantUnits[g] == nil {
						wantUnits[g] = map[string]bool{}
					}
					wantUnits[g][unit(m)] = true
				}
			}
			got := run("exposures_per_group_per_day")
			if len(got) != len(wantExposures) || len(got) == 0 {
				t.Fatalf("exposures per group per day: %v, want %d groups %v", got, len(wantExposures), wantExposures)
			}
			for _, r := range got {
				g := group{r[0], r[1]}
				day, err := time.Parse("2006-01-02", r[2][:10])
				if err != nil || time.Since(day) > 48*time.Hour {
					t.Errorf("day %q: want the day the events were loaded", r[2])
				}
				if r[3] != fmt.Sprint(wantExposures[g]) || r[4] != fmt.Sprint(len(wantUnits[g])) {
					t.Errorf("%v: %s exposures by %s units, want %d by %d", g, r[3], r[4], wantExposures[g], len(wantUnits[g]))
				}
			}
			if _, ok := wantExposures[group{"bridge_button_experiment", "Control"}]; !ok {
				t.Fatalf("the fixture has no Control exposures: %v", wantExposures)
			}

			// 2. Conversion by gate value: users first exposed to the gate,
			// and of them those with an add_to_cart at or after that.
			first := map[[2]string]time.Time{}
			for _, m := range sent {
				if m.Event == "statsig::gate_exposure" && meta(m, "gate") == "bridge_checkout_gate" && m.UserID != "" {
					k := [2]string{m.UserID, meta(m, "gateValue")}
					if t0, ok := first[k]; !ok || m.Timestamp.Before(t0) {
						first[k] = m.Timestamp
					}
				}
			}
			users, converted := map[string]int{}, map[string]int{}
			for k, t0 := range first {
				users[k[1]]++
				for _, m := range sent {
					if m.Event == "add_to_cart" && m.UserID == k[0] && !m.Timestamp.Before(t0) {
						converted[k[1]]++
						break
					}
				}
			}
			got = run("conversion_by_gate_value")
			if len(got) != len(users) {
				t.Fatalf("conversion by gate value: %v, want gate values %v", got, users)
			}
			for _, r := range got {
				pct := math.Round(1000*float64(converted[r[0]])/float64(users[r[0]])) / 10
				gotPct, err := strconv.ParseFloat(r[3], 64)
				if err != nil || r[1] != fmt.Sprint(users[r[0]]) || r[2] != fmt.Sprint(converted[r[0]]) || gotPct != pct {
					t.Errorf("gate value %s: %s users, %s converted, %s%%; want %d, %d, %.1f%%", r[0], r[1], r[2], r[3], users[r[0]], converted[r[0]], pct)
				}
			}

			// 3. First exposure per user per experiment.
			wantFirst := map[[3]string]bool{}
			for _, m := range sent {
				if m.Event == "statsig::experiment_exposure" {
					wantFirst[[3]string{unit(m), meta(m, "config"), meta(m, "experimentGroupName")}] = true
				}
			}
			got = run("first_exposure_per_user")
			var gotKeys, wantKeys []string
			for _, r := range got {
				gotKeys = append(gotKeys, strings.Join(r[:3], "|"))
				if r[3] == "NULL" {
					t.Errorf("%v: no first exposure time", r)
				}
			}
			for k := range wantFirst {
				wantKeys = append(wantKeys, strings.Join(k[:], "|"))
			}
			slices.Sort(gotKeys)
			slices.Sort(wantKeys)
			if !slices.Equal(gotKeys, wantKeys) {
				t.Errorf("first exposure per user: %v, want %v", gotKeys, wantKeys)
			}
		})
	}
}
