package config_test

import (
	"strings"
	"testing"

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

// The environment-only configuration leaves the default SQLite warehouse
// out on an external log, and refuses it when asked for by name.
func TestEnvWarehouseDefaultOnExternalLog(t *testing.T) {
	cfg, err := config.FromEnv(env{"BRIDGE_NATS_URL": "nats://n:4222"}.get)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range cfg.Destinations {
		if d.Type == "warehouse" {
			t.Errorf("external log without BRIDGE_WAREHOUSE: warehouse destination %+v configured", d.Warehouse)
		}
	}
	cfg, err = config.FromEnv(env{}.get)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Destinations) != 1 || cfg.Destinations[0].Warehouse == nil || cfg.Destinations[0].Warehouse.Driver != "sqlite" {
		t.Errorf("embedded log: destinations %+v, want the SQLite warehouse", cfg.Destinations)
	}
	cfg, err = config.FromEnv(env{"BRIDGE_NATS_URL": "nats://n:4222", "BRIDGE_WAREHOUSE": "sqlite"}.get)
	if err != nil {
		t.Fatal(err)
	}
	if !hasProblem(cfg.Validate(), "destinations[0].warehouse.driver:", "external log") {
		t.Errorf("BRIDGE_WAREHOUSE=sqlite on an external log: %v", cfg.Validate())
	}
}

// segment.partner_source: Segment's 50 requests a second for partner
// sources, as a named setting (Segment conformance check 25).
func TestSegmentPartnerSource(t *testing.T) {
	cfg, err := load(t, "destinations:\n  - name: s\n    segment: {write_key: k, partner_source: true}\n  - name: t\n    segment: {write_key: k}\n", env{})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Destinations[0].Delivery.RequestsPerSecond; got != config.PartnerSourceRequestsPerSec {
		t.Errorf("partner source: requests_per_second %g, want %d", got, config.PartnerSourceRequestsPerSec)
	}
	if got := cfg.Destinations[1].Delivery.RequestsPerSecond; got != config.DefaultRequestsPerSec {
		t.Errorf("not a partner source: requests_per_second %g, want %d", got, config.DefaultRequestsPerSec)
	}
	problems := problemsOf(t, "destinations:\n  - name: s\n    segment: {write_key: k, partner_source: true}\n    delivery: {requests_per_second: 100}\n")
	if !hasProblem(problems, "destinations[0].delivery.requests_per_second:", "100", "50", "partner_source") {
		t.Errorf("a partner source over 50 requests a second: %v", problems)
	}
	if p := problemsOf(t, "destinations:\n  - name: s\n    segment: {write_key: k, partner_source: true}\n    delivery: {requests_per_second: 20}\n"); len(p) != 0 {
		t.Errorf("a partner source below 50: %v", p)
	}
}
