package config_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/config"
)

// problemsOf loads yaml and returns what Validate says.
func problemsOf(t *testing.T, yaml string) []string {
	t.Helper()
	cfg, err := load(t, yaml, env{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Validate()
}

// hasProblem reports whether a problem starts with prefix and names every
// one of words.
func hasProblem(problems []string, prefix string, words ...string) bool {
	for _, p := range problems {
		if !strings.HasPrefix(p, prefix) {
			continue
		}
		all := true
		for _, w := range words {
			all = all && strings.Contains(p, w)
		}
		if all {
			return true
		}
	}
	return false
}

// Segment conformance check 49: two warehouse destinations loading the
// same schema of the same database would race on its tables.
func TestValidateRefusesTwoWarehousesOnOneSchema(t *testing.T) {
	problems := problemsOf(t, `
destinations:
  - name: wh_a
    warehouse: {driver: postgres, dsn: "postgres://u:SECRETPW@db/x", schema: statsig}
  - name: wh_b
    warehouse: {driver: postgres, dsn: "postgres://u:SECRETPW@db/x", schema: statsig}
  - name: wh_c
    warehouse: {driver: postgres, dsn: "postgres://u:SECRETPW@db/x", schema: other}
  - name: lite_a
    warehouse: {driver: sqlite}
  - name: lite_b
    warehouse: {driver: sqlite}
`)
	if !hasProblem(problems, "destinations[1].warehouse.schema:", `"wh_a"`, `"wh_b"`, `"statsig"`, "race") {
		t.Errorf("no problem naming wh_a and wh_b; got:\n  %s", strings.Join(problems, "\n  "))
	}
	if !hasProblem(problems, "destinations[4].warehouse.schema:", `"lite_a"`, `"lite_b"`) {
		t.Errorf("no problem naming the two SQLite warehouses on one file; got:\n  %s", strings.Join(problems, "\n  "))
	}
	if hasProblem(problems, "destinations[2]") {
		t.Errorf("wh_c has a schema of its own, but: %s", strings.Join(problems, "\n  "))
	}
	for _, p := range problems {
		if strings.Contains(p, "SECRETPW") {
			t.Errorf("a problem shows the DSN's password: %s", p)
		}
	}
	if len(problems) != 2 {
		t.Errorf("%d problems, want 2:\n  %s", len(problems), strings.Join(problems, "\n  "))
	}
}

// Issue 12: on an external log every process shares the warehouse's
// consumer, so a SQLite file per process would hold part of the events.
func TestValidateRefusesSQLiteWarehouseOnExternalLog(t *testing.T) {
	problems := problemsOf(t, `
log: {nats_url: "nats://n:4222"}
destinations:
  - name: warehouse
    warehouse: {driver: sqlite}
`)
	if !hasProblem(problems, "destinations[0].warehouse.driver:", "external log", "postgres", "BRIDGE_WAREHOUSE=off") {
		t.Errorf("no problem for a SQLite warehouse on an external log; got:\n  %s", strings.Join(problems, "\n  "))
	}
	if p := problemsOf(t, "log: {nats_url: \"nats://n:4222\"}\ndestinations:\n  - name: w\n    warehouse: {driver: postgres, dsn: \"postgres://db/x\"}\n"); len(p) != 0 {
		t.Errorf("a Postgres warehouse on an external log: %v", p)
	}
}

// The environment-only configuration with an external log gets the
// default SQLite warehouse refused, naming the fix, rather than silently
// left out: an upgraded deployment decides (and removes the old position).
func TestEnvWarehouseDefaultOnExternalLog(t *testing.T) {
	cfg, err := config.FromEnv(env{"BRIDGE_NATS_URL": "nats://n:4222"}.get)
	if err != nil {
		t.Fatal(err)
	}
	if !hasProblem(cfg.Validate(), "destinations[0].warehouse.driver:", "external log", "BRIDGE_WAREHOUSE=postgres", "BRIDGE_WAREHOUSE=off", "BRIDGE_REMOVE_STALE_DESTINATIONS") {
		t.Errorf("external log, BRIDGE_WAREHOUSE unset: %v", cfg.Validate())
	}
	cfg, err = config.FromEnv(env{"BRIDGE_NATS_URL": "nats://n:4222", "BRIDGE_WAREHOUSE": "off", "BRIDGE_REMOVE_STALE_DESTINATIONS": "true"}.get)
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Validate(); len(p) != 0 || len(cfg.Destinations) != 0 || !cfg.Log.RemoveStaleDestinations {
		t.Errorf("external log, warehouse off, stale positions removed: problems %v, destinations %+v, remove %v", p, cfg.Destinations, cfg.Log.RemoveStaleDestinations)
	}
	cfg, err = config.FromEnv(env{}.get)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Destinations) != 1 || cfg.Destinations[0].Warehouse == nil || cfg.Destinations[0].Warehouse.Driver != "sqlite" || len(cfg.Validate()) != 0 {
		t.Errorf("embedded log: destinations %+v, want the SQLite warehouse", cfg.Destinations)
	}
	if _, err := config.FromEnv(env{"BRIDGE_REMOVE_STALE_DESTINATIONS": "sometimes"}.get); err == nil {
		t.Error("BRIDGE_REMOVE_STALE_DESTINATIONS=sometimes accepted")
	}
}

// A negative max_string_length is a configuration error naming the key;
// 0 and 512 are fine.
func TestValidateMaxStringLength(t *testing.T) {
	problems := problemsOf(t, `
destinations:
  - name: wh_a
    warehouse: {driver: sqlite, schema: a, max_string_length: -1}
  - name: wh_b
    warehouse: {driver: sqlite, schema: b, max_string_length: 512}
`)
	if !hasProblem(problems, "destinations[0].warehouse.max_string_length:", "-1", "negative") {
		t.Errorf("no problem naming max_string_length; got:\n  %s", strings.Join(problems, "\n  "))
	}
	if hasProblem(problems, "destinations[1]") {
		t.Errorf("512 refused; got:\n  %s", strings.Join(problems, "\n  "))
	}
}

// Segment conformance check 49: a schema is a lower-case slug, so every
// query names it unquoted; anything else is a configuration error naming
// the key.
func TestValidateSchemaIsALowerCaseSlug(t *testing.T) {
	problems := problemsOf(t, `
destinations:
  - name: wh_a
    warehouse: {driver: sqlite, schema: Statsig}
  - name: wh_b
    warehouse: {driver: sqlite, schema: statsig-eu}
  - name: wh_c
    warehouse: {driver: sqlite, schema: statsig_eu2}
`)
	for i, s := range []string{"Statsig", "statsig-eu"} {
		if !hasProblem(problems, fmt.Sprintf("destinations[%d].warehouse.schema:", i), `"`+s+`"`, "lower-case slug") {
			t.Errorf("schema %q not refused; got:\n  %s", s, strings.Join(problems, "\n  "))
		}
	}
	if hasProblem(problems, "destinations[2]") {
		t.Errorf("statsig_eu2 refused; got:\n  %s", strings.Join(problems, "\n  "))
	}
}

// warehouse.max_lag: 5m when unset, 0 (full speed beside streaming
// destinations) when written so, from BRIDGE_WAREHOUSE_MAX_LAG without a
// file, and anything but a duration of 0 or more is a named problem.
func TestWarehouseMaxLag(t *testing.T) {
	cfg, err := load(t, `
destinations:
  - name: unset
    warehouse: {driver: sqlite}
  - name: off
    warehouse: {driver: sqlite, schema: nolag, max_lag: 0}
  - name: hour
    warehouse: {driver: sqlite, schema: hour, max_lag: 1h}
`, env{})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []time.Duration{config.DefaultWarehouseMaxLag, 0, time.Hour} {
		w := cfg.Destinations[i].Warehouse
		if w.MaxLag == nil || w.MaxLag.Duration() != want {
			t.Errorf("%s: max_lag %v, want %v", cfg.Destinations[i].Name, w.MaxLag, want)
		}
	}
	if p := cfg.Validate(); len(p) != 0 {
		t.Errorf("problems: %v", p)
	}

	fromEnv, err := config.FromEnv(env{"BRIDGE_WAREHOUSE_MAX_LAG": "30s"}.get)
	if err != nil {
		t.Fatal(err)
	}
	if w := fromEnv.Destinations[0].Warehouse; w.MaxLag == nil || w.MaxLag.Duration() != 30*time.Second {
		t.Errorf("BRIDGE_WAREHOUSE_MAX_LAG=30s: max_lag %v", w.MaxLag)
	}

	for _, bad := range []string{"soon", "-1m"} {
		problems := problemsOf(t, fmt.Sprintf("destinations:\n  - name: wh\n    warehouse: {driver: sqlite, max_lag: %s}\n", bad))
		if !hasProblem(problems, "destinations[0].warehouse.max_lag:", "duration") {
			t.Errorf("max_lag %s: no problem named; got %v", bad, problems)
		}
	}
}
