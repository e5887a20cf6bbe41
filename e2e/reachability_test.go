package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/config"
	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// TestDestinationsCheckedAtStart (issue 15.4): at start the bridge checks
// every destination's target. A Segment endpoint nobody listens on and (with
// Postgres) a warehouse DSN naming a database that does not exist are
// reported in /readyz per destination, without failing it (intake stores
// events whatever a destination's state), and in the Delivery view; a
// reachable Segment says what the check could not verify (the write key).
func TestDestinationsCheckedAtStart(t *testing.T) {
	parallelLong(t)
	s := newSink(t)
	cfg := testConfig(t, s.URL)
	down := cfg.Destinations[0]
	seg := *down.Segment
	seg.Endpoint = "http://" + refusedAddr(t) // nothing listens there
	down.Name, down.Segment = "down", &seg
	cfg.Destinations = append(cfg.Destinations, down)
	pg := os.Getenv("BRIDGE_TEST_POSTGRES_URL")
	if pg != "" {
		u, err := url.Parse(pg)
		if err != nil {
			t.Fatal(err)
		}
		u.Path = fmt.Sprintf("/no_such_db_%d", time.Now().UnixNano())
		cfg.Destinations = append(cfg.Destinations, config.Destination{Name: "pg", Type: "warehouse",
			Warehouse: &config.Warehouse{Driver: "postgres", DSN: u.String(), Schema: "statsig"},
			Mapping:   cfg.Destinations[0].Mapping, Delivery: cfg.Destinations[0].Delivery})
	} else {
		t.Log("BRIDGE_TEST_POSTGRES_URL not set: the warehouse with a missing database is not checked")
	}
	b := startBridge(t, cfg)

	var ready struct {
		Status       string                        `json:"status"`
		Destinations map[string]destination.Health `json:"destinations"`
	}
	testwait.For(t, 20*time.Second, "every destination checked", func() bool {
		resp, err := http.Get(b.URL + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/readyz answered %d with a destination down: intake must stay ready", resp.StatusCode)
		}
		ready.Destinations = nil
		if json.NewDecoder(resp.Body).Decode(&ready) != nil {
			return false
		}
		for _, d := range cfg.Destinations {
			if ready.Destinations[d.Name].Checked.IsZero() {
				return false
			}
		}
		return true
	})
	if h := ready.Destinations["segment"]; !h.OK || !strings.Contains(h.Detail, "write key") {
		t.Errorf("segment (reachable): %+v, want ok with a note that the write key cannot be checked", h)
	}
	if h := ready.Destinations["down"]; h.OK || !strings.Contains(h.Detail, "not reachable") || !strings.Contains(h.Detail, "refused") {
		t.Errorf("down (nothing listens): %+v, want not reachable, connection refused", h)
	}
	if pg != "" {
		if h := ready.Destinations["pg"]; h.OK || !strings.Contains(h.Detail, "does not exist") {
			t.Errorf("pg (no such database): %+v, want the database named as missing", h)
		}
	}
	// The Delivery view shows the same.
	resp, err := http.Get(b.URL + "/api/delivery")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var view struct {
		Destinations []struct {
			Name   string             `json:"name"`
			Health destination.Health `json:"health"`
		} `json:"destinations"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&view); err != nil {
		t.Fatal(err)
	}
	for _, d := range view.Destinations {
		if d.Health != ready.Destinations[d.Name] {
			t.Errorf("delivery view %s: %+v, /readyz: %+v", d.Name, d.Health, ready.Destinations[d.Name])
		}
	}
	// Intake still stores, and the reachable destination delivers.
	body, markers := sdkBody(0, 0, 5)
	mustPost(t, b.URL, body)
	want := map[string]bool{}
	for _, m := range markers {
		want[m] = true
	}
	waitDelivered(t, s, want, 10*time.Second)
}
