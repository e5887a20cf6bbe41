package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"

	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// One bridge, two Segment destinations over the same log: "alongside" gets
// each experiment exposure of the go-sdk capture and an Experiment Viewed
// for it, "instead" gets Experiment Viewed in place of the exposure. The
// Experiment Viewed messages are those of the golden file (same messageIds
// and properties), and the runner counts both messages of an exposure.
func TestExperimentViewedReachesSegment(t *testing.T) {
	parallel(t)
	const secret = "secret-abspec"
	specs := newSpecsServer(t, filepath.Join(fixtures, "go-sdk", "download_config_specs.json"), secret)
	along, instead := newSink(t), newSink(t)
	cfg := testConfig(t, along.URL)
	cfg.Specs.ServerSecret = secret
	cfg.Specs.API = specs.URL + "/v1"
	seg := -1
	for i, d := range cfg.Destinations {
		if d.Type == "segment" {
			seg = i
		}
	}
	if seg < 0 {
		t.Fatal("test config has no segment destination")
	}
	cfg.Destinations[seg].Mapping.ExperimentViewed = mappingconfig.ExperimentViewedAlongside
	second := cfg.Destinations[seg]
	sc := *second.Segment
	sc.Endpoint = instead.URL
	second.Segment = &sc
	second.Name = "segment_instead"
	second.Mapping.ExperimentViewed = mappingconfig.ExperimentViewedInstead
	cfg.Destinations = append(cfg.Destinations, second)
	b := startBridge(t, cfg)

	resp := fixtureRequest(t, b.URL, "go-sdk", "log_event-1")
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != 202 {
		t.Fatalf("fixture: %d %s", resp.StatusCode, body)
	}
	// go-sdk/log_event-1: 32 events sent under the default mapping, 8 of
	// them experiment exposures with a group (testdata/golden/go-sdk).
	const sends, exposures = 32, 8
	testwait.For(t, 15*time.Second, "alongside: exposures and Experiment Viewed", func() bool { return along.Unique() >= sends+exposures })
	testwait.For(t, 15*time.Second, "instead: Experiment Viewed in place of exposures", func() bool { return instead.Unique() >= sends })

	golden := readGoldenExperimentViewed(t, filepath.Join("..", "testdata", "golden", "experiment_viewed", "go-sdk", "log_event-1.jsonl"))
	if len(golden) != exposures {
		t.Fatalf("golden has %d Experiment Viewed, want %d", len(golden), exposures)
	}

	count := func(msgs []map[string]any) (byEvent map[string]int, viewed map[string]map[string]any, exposureIDs []string) {
		byEvent, viewed = map[string]int{}, map[string]map[string]any{}
		seen := map[string]bool{}
		for _, m := range msgs {
			id, _ := m["messageId"].(string)
			if seen[id] {
				continue // a redelivery, deduplicated by Segment
			}
			seen[id] = true
			ev, _ := m["event"].(string)
			byEvent[ev]++
			switch ev {
			case mapping.ExperimentViewedEvent:
				viewed[id] = m
			case statsig.ExperimentExposure:
				exposureIDs = append(exposureIDs, id)
			}
		}
		return byEvent, viewed, exposureIDs
	}

	byEvent, viewed, exposureIDs := count(along.Messages())
	if byEvent[statsig.ExperimentExposure] != exposures || byEvent[mapping.ExperimentViewedEvent] != exposures || len(viewed) != exposures {
		t.Fatalf("alongside: %v, want %d exposures and %d Experiment Viewed", byEvent, exposures, exposures)
	}
	for _, id := range exposureIDs {
		if _, ok := viewed[statsig.DeriveID(id, "experiment_viewed")]; !ok {
			t.Errorf("alongside: exposure %s has no Experiment Viewed", id)
		}
	}
	checkAgainstGolden(t, "alongside", viewed, golden)

	byEvent, viewed, _ = count(instead.Messages())
	if byEvent[statsig.ExperimentExposure] != 0 || byEvent[mapping.ExperimentViewedEvent] != exposures {
		t.Fatalf("instead: %v, want no exposure and %d Experiment Viewed", byEvent, exposures)
	}
	checkAgainstGolden(t, "instead", viewed, golden)
	total := 0
	for _, n := range byEvent {
		total += n
	}
	if total != sends {
		t.Fatalf("instead: %d messages, want %d (each exposure replaced, nothing else changed)", total, sends)
	}

	// The runner counts each message as its own delivery.
	delivered := func(dest string) float64 {
		first, _ := metric(t, b.URL, `statsig_bridge_delivered_events_total{attempt="first",destination="`+dest+`"}`)
		retry, _ := metric(t, b.URL, `statsig_bridge_delivered_events_total{attempt="retry",destination="`+dest+`"}`)
		return first + retry
	}
	// The sink has the messages before the runner has read its answer and
	// counted them: wait for the counts, then check they are exact.
	testwait.For(t, 10*time.Second, "the deliveries counted", func() bool {
		return delivered(cfg.Destinations[seg].Name) >= sends+exposures && delivered(second.Name) >= sends
	})
	if n := delivered(cfg.Destinations[seg].Name); n != sends+exposures {
		t.Errorf("alongside: delivered_events_total %v, want %d", n, sends+exposures)
	}
	if n := delivered(second.Name); n != sends {
		t.Errorf("instead: delivered_events_total %v, want %d", n, sends)
	}
}

// checkAgainstGolden compares the Experiment Viewed messages that arrived
// with the golden ones: same messageIds, users and properties (timestamps
// and context.library differ between a live bridge and the golden test).
func checkAgainstGolden(t *testing.T, dest string, got map[string]map[string]any, golden map[string]map[string]any) {
	t.Helper()
	for id, want := range golden {
		m, ok := got[id]
		if !ok {
			t.Errorf("%s: Experiment Viewed %s of the golden did not arrive", dest, id)
			continue
		}
		for _, k := range []string{"userId", "anonymousId", "originalTimestamp"} {
			if m[k] != want[k] {
				t.Errorf("%s: %s: %s %v, golden %v", dest, id, k, m[k], want[k])
			}
		}
		gp, _ := json.Marshal(m["properties"])
		wp, _ := json.Marshal(want["properties"])
		if string(gp) != string(wp) {
			t.Errorf("%s: %s: properties %s, golden %s", dest, id, gp, wp)
		}
	}
}

func readGoldenExperimentViewed(t *testing.T, path string) map[string]map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string]any{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out[m["messageId"].(string)] = m
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
