package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/config"
	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"
)

// TestMappingOptionsBadInput: every bad value of environments,
// dedupe_exposures and identify is a problem naming its key, and identify
// or dedupe_exposures on the Statsig tee too.
func TestMappingOptionsBadInput(t *testing.T) {
	yaml := `
destinations:
  - name: a
    type: segment
    segment: {write_key: k}
    mapping:
      dedupe_exposures: 24 hours
      identify: always
      identify_horizon: -5m
      environments: [production, " "]
  - name: b
    type: segment
    segment: {write_key: k}
    mapping:
      dedupe_exposures: -1h
  - name: tee
    type: statsig
    statsig: {server_secret: s}
    mapping:
      identify: on_change
      dedupe_exposures: 1h
`
	cfg, err := load(t, yaml, env{})
	if err != nil {
		t.Fatal(err)
	}
	problems := strings.Join(cfg.Validate(), "\n")
	for _, w := range []string{
		"destinations[0].mapping.dedupe_exposures: not a duration",
		"destinations[0].mapping.identify: unknown mode \"always\"",
		"destinations[0].mapping.identify_horizon: -5m must not be negative",
		"destinations[0].mapping.environments: an empty tier",
		"destinations[1].mapping.dedupe_exposures: -1h must not be negative",
		"destinations[2].mapping.identify: a statsig destination",
		"destinations[2].mapping.dedupe_exposures: a statsig destination",
	} {
		if !strings.Contains(problems, w) {
			t.Errorf("no problem %q in:\n%s", w, problems)
		}
	}
}

// TestMappingOptionsRead: a bare 0 is off, durations read as Go's, and
// the config view writes them back the way they read.
func TestMappingOptionsRead(t *testing.T) {
	yaml := `
destinations:
  - name: a
    type: segment
    segment: {write_key: k}
    mapping:
      dedupe_exposures: 24h
      identify: on_change
      environments: [production, Staging]
  - name: b
    type: segment
    segment: {write_key: k}
    mapping:
      dedupe_exposures: 0
`
	cfg, err := load(t, yaml, env{})
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Validate(); len(p) != 0 {
		t.Fatalf("problems: %v", p)
	}
	a, b := cfg.Destinations[0].Mapping, cfg.Destinations[1].Mapping
	if a.DedupeExposures.Duration() != 24*time.Hour || a.Identify != mappingconfig.IdentifyOnChange || a.IdentifyHorizon != mappingconfig.DefaultIdentifyHorizon {
		t.Fatalf("a: %+v", a)
	}
	if b.DedupeExposures != 0 || b.Identify != mappingconfig.IdentifyOff {
		t.Fatalf("b: %+v", b)
	}
	view, err := config.Readable(cfg.Masked())
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`"environments":["production","Staging"],"dedupe_exposures":"24h","identify":"on_change","identify_horizon":"2160h"`, `"dedupe_exposures":"0","identify":"off","identify_horizon":"2160h"`} {
		if !strings.Contains(string(view), w) {
			t.Errorf("config view lacks %s:\n%s", w, view)
		}
	}
}
