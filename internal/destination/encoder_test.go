package destination

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"

	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// With experiment_viewed: alongside, an experiment exposure is encoded as
// the exposure (Payload) and Experiment Viewed (Extra); a second message
// over the per-message limit dead-letters the event instead of losing half
// of it.
func TestTrackEncoderSendsExperimentViewedAsExtra(t *testing.T) {
	exp := "checkout_" + strings.Repeat("x", 300)
	b := &statsig.Batch{Source: "webhook", ReceivedAt: 1_700_000_000_000}
	e := &statsig.Event{ID: "0000-1", EventName: statsig.ExperimentExposure, Time: 1_700_000_000_000,
		User:     &statsig.User{UserID: "u1"},
		Metadata: json.RawMessage(`{"config":"` + exp + `","ruleID":"r","experimentGroupName":"Test"}`)}
	m := mapping.New(mappingconfig.Options{ExperimentViewed: mappingconfig.ExperimentViewedAlongside}, nil, mapping.Library{Name: "t", Version: "1"})
	out := TrackEncoder{Mapper: m}.Encode(b, e)
	if out.Filtered || out.Invalid || out.Extra == nil {
		t.Fatalf("encoded %+v, want a payload and an extra", out)
	}
	var p, x struct {
		Event, MessageID string
	}
	if json.Unmarshal(out.Payload, &p) != nil || json.Unmarshal(out.Extra, &x) != nil {
		t.Fatalf("invalid JSON:\n%s\n%s", out.Payload, out.Extra)
	}
	if p.Event != statsig.ExperimentExposure || x.Event != mapping.ExperimentViewedEvent || out.Event != statsig.ExperimentExposure {
		t.Fatalf("payload %q, extra %q, Encoded.Event %q", p.Event, x.Event, out.Event)
	}
	if len(out.Extra) <= len(out.Payload) {
		t.Fatalf("test needs Experiment Viewed (%d B) larger than the exposure (%d B)", len(out.Extra), len(out.Payload))
	}
	out = TrackEncoder{Mapper: m, MaxItemBytes: len(out.Payload)}.Encode(b, e)
	if !out.Invalid || out.Extra != nil || !strings.Contains(out.Reason, "message_too_big: Experiment Viewed") {
		t.Fatalf("over the limit: invalid %v, extra %d B, reason %q", out.Invalid, len(out.Extra), out.Reason)
	}

	m = mapping.New(mappingconfig.Options{ExperimentViewed: mappingconfig.ExperimentViewedInstead}, nil, mapping.Library{Name: "t", Version: "1"})
	out = TrackEncoder{Mapper: m}.Encode(b, e)
	if json.Unmarshal(out.Payload, &p) != nil || p.Event != mapping.ExperimentViewedEvent || out.Extra != nil {
		t.Fatalf("instead: payload %s, extra %s", out.Payload, out.Extra)
	}
}
