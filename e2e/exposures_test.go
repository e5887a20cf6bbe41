package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

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
}
