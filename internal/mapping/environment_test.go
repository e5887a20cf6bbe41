package mapping

import (
	"encoding/json"
	"testing"

	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"

	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// TestEnvironmentsFilter: only listed tiers pass (case-insensitively); an
// event naming no tier is production; a webhook event without a user tier
// is read from its metadata's environment; "instead" Experiment Viewed is
// filtered with its exposure.
func TestEnvironmentsFilter(t *testing.T) {
	m := New(mappingconfig.Options{Environments: []string{"Production"}, ExperimentViewed: mappingconfig.ExperimentViewedInstead}, nil, Library{Name: "t", Version: "1"})
	sdk := &statsig.Batch{ReceivedAt: 1, Source: statsig.SourceSDK}
	hook := &statsig.Batch{ReceivedAt: 1, Source: statsig.SourceWebhook}
	ev := func(env string, metadata string) *statsig.Event {
		u := &statsig.User{UserID: "u"}
		if env != "" {
			u.StatsigEnvironment = json.RawMessage(env)
		}
		e := &statsig.Event{ID: "id", EventName: statsig.ExperimentExposure, User: u}
		if metadata != "" {
			e.Metadata = json.RawMessage(metadata)
		}
		return e
	}
	for _, c := range []struct {
		name   string
		b      *statsig.Batch
		e      *statsig.Event
		passes bool
	}{
		{"production", sdk, ev(`{"tier":"production"}`, ""), true},
		{"PRODUCTION", sdk, ev(`{"tier":"PRODUCTION"}`, ""), true},
		{"staging", sdk, ev(`{"tier":"staging"}`, ""), false},
		{"no tier", sdk, ev("", ""), true},
		{"empty tier", sdk, ev(`{"tier":""}`, ""), true},
		{"webhook metadata staging", hook, ev("", `{"environment":"staging","config":"x"}`), false},
		{"webhook metadata production", hook, ev("", `{"environment":"production","config":"x"}`), true},
		{"sdk metadata is not an environment", sdk, ev("", `{"environment":"staging"}`), true},
	} {
		r, extra := m.MapAll(c.b, c.e)
		filtered := r.Status == Filtered && r.Filter == FilterEnvironment
		if filtered == c.passes || extra != nil {
			t.Errorf("%s: status %v filter %q reason %q extra %v, want passes=%v", c.name, r.Status, r.Filter, r.Reason, extra, c.passes)
		}
	}
	// No environments: every tier passes.
	all := New(mappingconfig.Options{}, nil, Library{Name: "t", Version: "1"})
	if r := all.Map(sdk, ev(`{"tier":"staging"}`, "")); r.Status == Filtered {
		t.Fatalf("no environments option filtered: %s", r.Reason)
	}
}
