package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"

	"github.com/statsig-bridge/statsig-bridge/internal/cli"
	"github.com/statsig-bridge/statsig-bridge/internal/config"
	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// TestDedupeExposuresEveryDestination: with dedupe_exposures, Segment, the
// webhook and the warehouse each get only the first exposure per user ×
// gate × outcome; a flipped gate is a new exposure, custom events are never
// deduplicated, and each suppressed exposure counts as filtered with
// reason duplicate_exposure.
func TestDedupeExposuresEveryDestination(t *testing.T) {
	t.Parallel()
	s := newSink(t)
	h := newHookReceiver(t, "")
	b := bridgeFromYAML(t,
		fmt.Sprintf("  - name: seg\n    type: segment\n    segment: {write_key: %s, endpoint: %q}\n    mapping: {dedupe_exposures: 1h}\n%s", s.WriteKey, s.URL, testDelivery[1:]),
		webhookYAML("hook", h.URL, "", "{dedupe_exposures: 1h}"),
		"  - name: wh\n    type: warehouse\n    warehouse: {driver: sqlite, schema: dedupe}\n    mapping: {dedupe_exposures: 1h}\n"+testDelivery[1:],
	)
	// Two requests, as two SDK instances (or a restart) send them.
	mustPost(t, b.URL, eventsBody(t,
		gateExposure("u1", "g", "true", "r1", msAgo(10*time.Second)),
		gateExposure("u1", "g", "true", "r1", msAgo(9*time.Second)), // repeat in the same request
		gateExposure("u2", "g", "true", "r1", msAgo(9*time.Second)),
		customEvent("u1", "checkout", msAgo(8*time.Second)),
	))
	mustPost(t, b.URL, eventsBody(t,
		gateExposure("u1", "g", "true", "r1", msAgo(7*time.Second)),  // repeat
		gateExposure("u1", "g", "false", "r2", msAgo(6*time.Second)), // flipped: new
		gateExposure("u2", "g", "true", "r1", msAgo(5*time.Second)),  // repeat
		customEvent("u1", "checkout", msAgo(4*time.Second)),          // custom: never deduplicated
	))
	wantExposures := []string{"u1/g/false/r2", "u1/g/true/r1", "u2/g/true/r1"}
	filtered := func(dest string) float64 {
		return metricByLabel(metricsText(t, b.URL), "statsig_bridge_filtered_events_total", `destination="`+dest+`",reason="duplicate_exposure"`)
	}
	db := warehouseDB(t, b.Cfg.DataDir, "dedupe")
	testwait.For(t, 30*time.Second, "5 events at each destination and 3 suppressed each", func() bool {
		hooked, _ := h.Delivered()
		return s.Unique() == 5 && len(hooked) == 5 && countRows(db, "SELECT count(*) FROM tracks") == 5 &&
			filtered("seg") == 3 && filtered("hook") == 3 && filtered("wh") == 3
	})
	var seg []string
	customs := 0
	for _, m := range s.Messages() {
		if m["event"] == "statsig::gate_exposure" {
			seg = append(seg, exposureKeyOf(m))
		} else {
			customs++
		}
	}
	if strings.Join(sorted(seg), ",") != strings.Join(wantExposures, ",") || customs != 2 {
		t.Errorf("segment got exposures %v and %d custom events, want %v and 2", sorted(seg), customs, wantExposures)
	}
	hooked, _ := h.Delivered()
	var hook []string
	for _, m := range hooked {
		if m["event"] == "statsig::gate_exposure" {
			hook = append(hook, exposureKeyOf(m))
		}
	}
	if strings.Join(sorted(hook), ",") != strings.Join(wantExposures, ",") {
		t.Errorf("webhook got exposures %v, want %v", sorted(hook), wantExposures)
	}
	if n := countRows(db, "SELECT count(*) FROM statsig_gate_exposure"); n != 3 {
		t.Errorf("warehouse statsig_gate_exposure holds %d rows, want the 3 first exposures", n)
	}
	// The debugger's Delivery view lists them as filtered, duplicate_exposure.
	var view struct {
		Destinations []struct {
			Name    string
			Reasons []struct {
				Reason, Type string
				Count        int
			}
		}
	}
	resp, err := http.Get(b.URL + "/api/delivery?window=10m")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&view); err != nil {
		t.Fatal(err)
	}
	listed := map[string]int{}
	for _, d := range view.Destinations {
		for _, r := range d.Reasons {
			if r.Type == "filtered" && r.Reason == "duplicate_exposure" {
				listed[d.Name] = r.Count
			}
		}
	}
	if listed["seg"] != 3 || listed["hook"] != 3 || listed["wh"] != 3 {
		t.Errorf("Delivery view lists duplicate_exposure per destination %v, want 3 each", listed)
	}
}

// TestEnvironmentsEveryDestination: each destination gets only the events
// of the environment tiers it lists (an event naming none is production);
// the rest count as filtered with reason environment.
func TestEnvironmentsEveryDestination(t *testing.T) {
	t.Parallel()
	s := newSink(t)
	h := newHookReceiver(t, "")
	b := bridgeFromYAML(t,
		fmt.Sprintf("  - name: seg\n    type: segment\n    segment: {write_key: %s, endpoint: %q}\n    mapping: {environments: [production]}\n%s", s.WriteKey, s.URL, testDelivery[1:]),
		webhookYAML("hook", h.URL, "", "{environments: [staging]}"),
		"  - name: wh\n    type: warehouse\n    warehouse: {driver: sqlite, schema: envs}\n    mapping: {environments: [development, staging]}\n"+testDelivery[1:],
	)
	tiered := func(userID, tier string, at int64) sdkEvent {
		u := map[string]any{"userID": userID}
		if tier != "" {
			u["statsigEnvironment"] = map[string]string{"tier": tier}
		}
		return userEvent(u, "checkout", at)
	}
	mustPost(t, b.URL, eventsBody(t,
		tiered("prod", "production", msAgo(3*time.Second)),
		tiered("none", "", msAgo(2*time.Second)),
		tiered("stag", "staging", msAgo(time.Second)),
		tiered("dev", "development", msAgo(time.Second)),
	))
	db := warehouseDB(t, b.Cfg.DataDir, "envs")
	env := func(dest string) float64 {
		return metricByLabel(metricsText(t, b.URL), "statsig_bridge_filtered_events_total", `destination="`+dest+`",reason="environment"`)
	}
	testwait.For(t, 30*time.Second, "each destination's tiers delivered and the rest filtered", func() bool {
		hooked, _ := h.Delivered()
		return s.Unique() == 2 && len(hooked) == 1 && countRows(db, "SELECT count(*) FROM tracks") == 2 &&
			env("seg") == 2 && env("hook") == 3 && env("wh") == 2
	})
	var users []string
	for _, m := range s.Messages() {
		users = append(users, fmt.Sprint(m["userId"]))
	}
	hooked, _ := h.Delivered()
	for _, m := range hooked {
		users = append(users, "hook:"+fmt.Sprint(m["userId"]))
	}
	if got := strings.Join(sorted(users), ","); got != "hook:stag,none,prod" {
		t.Errorf("delivered users %s, want none and prod to Segment, stag to the webhook", got)
	}
	if n := countRows(db, "SELECT count(*) FROM tracks WHERE user_id IN ('stag', 'dev')"); n != 2 {
		t.Errorf("warehouse holds %d of the staging and development events, want 2", n)
	}
}

// TestDedupeExposuresExperimentViewedFollows: with experiment_viewed
// alongside, Experiment Viewed goes with the exposure it comes from: a
// repeated experiment exposure sends neither, a new group sends both.
func TestDedupeExposuresExperimentViewedFollows(t *testing.T) {
	t.Parallel()
	const secret = "secret-dedupe-ev-000000000000000"
	specs := newSpecsServer(t, filepath.Join("..", "testdata", "fixtures", "go-sdk-layers", "download_config_specs.json"), secret)
	s := newSink(t)
	dir := t.TempDir()
	doc := fmt.Sprintf("listen: 127.0.0.1:0\ndata_dir: %s\nspecs: {server_secret: %s, api: %q}\ndestinations:\n  - name: seg\n    type: segment\n    segment: {write_key: %s, endpoint: %q}\n    mapping: {dedupe_exposures: 1h, experiment_viewed: alongside}\n%s",
		filepath.Join(dir, "data"), secret, specs.URL+"/v1", s.WriteKey, s.URL, testDelivery[1:])
	path := filepath.Join(dir, "bridge.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	b := startBridge(t, cfg)
	exposure := func(rule string, at int64) sdkEvent {
		return sdkEvent{EventName: "statsig::config_exposure", User: map[string]any{"userID": "u1"}, Time: at,
			Metadata: map[string]string{"config": "bridge_button_experiment", "ruleID": rule, "rulePassed": "true"}}
	}
	mustPost(t, b.URL, eventsBody(t,
		exposure("5yQbPMfmKQdiRV35hS3B2l", msAgo(3*time.Second)), // Control: first
		exposure("5yQbPMfmKQdiRV35hS3B2l", msAgo(2*time.Second)), // Control again: neither message
		exposure("5yQbPMfmKQdiRV35hS3B2m", msAgo(time.Second)),   // moved to Test: both
	))
	testwait.For(t, 30*time.Second, "two exposures with their Experiment Viewed, one duplicate filtered", func() bool {
		return s.Unique() == 4 && metricByLabel(metricsText(t, b.URL), "statsig_bridge_filtered_events_total", `reason="duplicate_exposure"`) == 1
	})
	var got []string
	for _, m := range s.Messages() {
		props, _ := m["properties"].(map[string]any)
		if m["event"] == "Experiment Viewed" {
			got = append(got, fmt.Sprint("viewed ", props["variation_name"]))
		} else {
			md, _ := props["metadata"].(map[string]any)
			got = append(got, fmt.Sprint(m["event"], " ", md["experimentGroupName"]))
		}
	}
	want := []string{"statsig::experiment_exposure Control", "statsig::experiment_exposure Test", "viewed Control", "viewed Test"}
	if strings.Join(sorted(got), ",") != strings.Join(want, ",") {
		t.Errorf("delivered %v, want %v", sorted(got), want)
	}
}

// TestDedupeExposuresReplay: a replay decides as the live delivery did: the
// first exposure goes again with its messageId (its key holds it), the
// repeat the live delivery suppressed stays out.
func TestDedupeExposuresReplay(t *testing.T) {
	t.Parallel()
	s := newSink(t)
	cfg := testConfig(t, s.URL)
	cfg.Destinations[0].Mapping.DedupeExposures = mappingconfig.Window(time.Hour)
	cfg.Log.Keep = time.Hour
	b := startBridge(t, cfg)
	mustPost(t, b.URL, eventsBody(t, gateExposure("u1", "g", "true", "r1", msAgo(2*time.Second)), gateExposure("u1", "g", "true", "r1", msAgo(time.Second))))
	testwait.For(t, 20*time.Second, "the first exposure delivered and the repeat suppressed", func() bool {
		return s.Unique() == 1 && metricByLabel(metricsText(t, b.URL), "statsig_bridge_filtered_events_total", `reason="duplicate_exposure"`) == 1
	})
	b.Stop()
	first := s.Messages()[0]["messageId"]
	res, out, err := replay(t, cfg, cli.ReplayOptions{Destination: "segment"})
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	if res.Events != 2 || res.Delivered != 1 || res.Filtered != 1 {
		t.Errorf("replay %+v, want 2 events: 1 delivered, 1 filtered", res)
	}
	msgs := s.Messages()
	if len(msgs) != 2 || msgs[1]["messageId"] != first {
		t.Errorf("after the replay the sink has %d messages (%v), want the first exposure again with messageId %v", len(msgs), msgs, first)
	}
}
