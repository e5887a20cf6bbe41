package mapping

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"

	"github.com/statsig-bridge/statsig-bridge/internal/segment"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

const abSpecs = `{"time":1,"feature_gates":[],
 "dynamic_configs":[
  {"name":"plain_config","entity":"dynamic_config","rules":[{"id":"r1","groupName":"DACH"}]},
  {"name":"button_exp","entity":"experiment","rules":[
    {"id":"targetingGate","groupName":""},
    {"id":"ruleCtl","groupName":"Control","isExperimentGroup":true},
    {"id":"ruleTest","groupName":"Test","isExperimentGroup":true}]}],
 "layer_configs":[{"name":"button_layer","entity":"layer","rules":[]}],
 "layers":{"button_layer":["button_exp"]}}`

func abMapper(t *testing.T, opts mappingconfig.Options, withSpecs bool) *Mapper {
	t.Helper()
	var fn func() *statsig.Specs
	if withSpecs {
		s, err := statsig.ParseSpecs([]byte(abSpecs))
		if err != nil {
			t.Fatal(err)
		}
		fn = func() *statsig.Specs { return s }
	}
	return New(opts, fn, Library{Name: "statsig-bridge", Version: "test"})
}

func abBatch() *statsig.Batch {
	return &statsig.Batch{Source: "sdk", ReceivedAt: 1_700_000_000_150, ClientTime: 1_700_000_000_000, KeyID: "k"}
}

func abEvent(name, metadata string) *statsig.Event {
	return &statsig.Event{
		ID: "11111111-2222-5333-8444-555555555555", EventName: name, Time: 1_699_999_999_000,
		User:     &statsig.User{UserID: "u1", CustomIDs: map[string]statsig.FlexString{"stableID": "s1"}},
		Metadata: json.RawMessage(metadata),
	}
}

type evProps struct {
	ExperimentID   any `json:"experiment_id"`
	ExperimentName any `json:"experiment_name"`
	VariationID    any `json:"variation_id"`
	VariationName  any `json:"variation_name"`
	Layer          any `json:"layer"`
}

func evPropsOf(t *testing.T, tr segment.Track) evProps {
	t.Helper()
	var p evProps
	if err := json.Unmarshal(tr.Properties, &p); err != nil {
		t.Fatalf("properties %s: %v", tr.Properties, err)
	}
	return p
}

var uuidShape = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// An experiment's config exposure yields, per mode, nothing more (off), the
// exposure plus Experiment Viewed (alongside) or Experiment Viewed alone
// (instead); Experiment Viewed has the exposure's identity and times, the
// spec's four string properties and its own deterministic messageId.
func TestExperimentViewedModes(t *testing.T) {
	md := `{"config":"button_exp","ruleID":"ruleTest","rulePassed":"true"}`
	base := abMapper(t, mappingconfig.Options{}, true).Map(abBatch(), abEvent(statsig.ConfigExposure, md))
	if base.Status != Mapped || base.Track.Event != statsig.ExperimentExposure {
		t.Fatalf("Map: %+v", base)
	}
	baseJSON := string(base.Track.AppendJSON(nil))

	p, extra := abMapper(t, mappingconfig.Options{ExperimentViewed: mappingconfig.ExperimentViewedOff}, true).MapAll(abBatch(), abEvent(statsig.ConfigExposure, md))
	if extra != nil || string(p.Track.AppendJSON(nil)) != baseJSON {
		t.Fatalf("off: extra %v, primary %s, want Map's %s", extra, p.Track.AppendJSON(nil), baseJSON)
	}

	p, extra = abMapper(t, mappingconfig.Options{ExperimentViewed: mappingconfig.ExperimentViewedAlongside}, true).MapAll(abBatch(), abEvent(statsig.ConfigExposure, md))
	if string(p.Track.AppendJSON(nil)) != baseJSON {
		t.Fatalf("alongside: primary %s, want Map's %s", p.Track.AppendJSON(nil), baseJSON)
	}
	if extra == nil || extra.Status != Mapped {
		t.Fatalf("alongside: extra %+v, want a mapped Experiment Viewed", extra)
	}
	ev := extra.Track
	checkExperimentViewed(t, ev, base.Track)
	got := evPropsOf(t, ev)
	want := evProps{ExperimentID: "button_exp", ExperimentName: "button_exp", VariationID: "ruleTest", VariationName: "Test"}
	if got != want {
		t.Fatalf("properties %s, want %+v", ev.Properties, want)
	}

	p, extra = abMapper(t, mappingconfig.Options{ExperimentViewed: mappingconfig.ExperimentViewedInstead}, true).MapAll(abBatch(), abEvent(statsig.ConfigExposure, md))
	if extra != nil || p.Status != Mapped || p.Track.Event != ExperimentViewedEvent {
		t.Fatalf("instead: primary %q extra %v, want Experiment Viewed alone", p.Track.Event, extra)
	}
	if string(p.Track.AppendJSON(nil)) != string(ev.AppendJSON(nil)) {
		t.Fatalf("instead differs from alongside's Experiment Viewed:\n%s\n%s", p.Track.AppendJSON(nil), ev.AppendJSON(nil))
	}
}

func checkExperimentViewed(t *testing.T, ev, exposure segment.Track) {
	t.Helper()
	if ev.Event != ExperimentViewedEvent {
		t.Errorf("event %q", ev.Event)
	}
	if ev.UserID != exposure.UserID || ev.AnonymousID != exposure.AnonymousID ||
		!ev.Timestamp.Equal(exposure.Timestamp) || !ev.OriginalTimestamp.Equal(exposure.OriginalTimestamp) ||
		string(ev.Context) != string(exposure.Context) {
		t.Errorf("identity, times or context differ from the exposure:\n%s\n%s", ev.AppendJSON(nil), exposure.AppendJSON(nil))
	}
	if ev.MessageID == exposure.MessageID || !uuidShape.MatchString(ev.MessageID) || ev.MessageID != statsig.DeriveID(exposure.MessageID, "experiment_viewed") {
		t.Errorf("messageId %q (exposure %q): want a UUID derived from the exposure's", ev.MessageID, exposure.MessageID)
	}
	var raw map[string]any
	if err := json.Unmarshal(ev.Properties, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"experiment_id", "experiment_name", "variation_id", "variation_name"} {
		if s, ok := raw[k].(string); !ok || s == "" {
			t.Errorf("properties.%s = %#v, want a non-empty string", k, raw[k])
		}
	}
}

// An explicit layer parameter is an exposure of the allocated experiment:
// Experiment Viewed names the experiment, not the layer, and keeps the layer.
func TestExperimentViewedFromLayerExposure(t *testing.T) {
	m := abMapper(t, mappingconfig.Options{ExperimentViewed: mappingconfig.ExperimentViewedAlongside}, true)
	e := abEvent(statsig.LayerExposure, `{"config":"button_layer","ruleID":"ruleCtl","allocatedExperiment":"button_exp","isExplicitParameter":"true","parameterName":"color"}`)
	p, extra := m.MapAll(abBatch(), e)
	if p.Track.Event != statsig.ExperimentExposure || extra == nil {
		t.Fatalf("primary %q, extra %v", p.Track.Event, extra)
	}
	checkExperimentViewed(t, extra.Track, p.Track)
	want := evProps{ExperimentID: "button_exp", ExperimentName: "button_exp", VariationID: "ruleCtl", VariationName: "Control", Layer: "button_layer"}
	if got := evPropsOf(t, extra.Track); got != want {
		t.Fatalf("properties %s, want %+v", extra.Track.Properties, want)
	}
	// An implicit parameter stays a layer exposure: no Experiment Viewed.
	e = abEvent(statsig.LayerExposure, `{"config":"button_layer","ruleID":"ruleCtl","allocatedExperiment":"button_exp","isExplicitParameter":"false"}`)
	if p, extra := m.MapAll(abBatch(), e); extra != nil || p.Track.Event != statsig.LayerExposure {
		t.Fatalf("implicit parameter: primary %q, extra %v", p.Track.Event, extra)
	}
}

// The js-client names configs it was not asked for by djb2 hash; Experiment
// Viewed carries the name.
func TestExperimentViewedResolvesHashedName(t *testing.T) {
	m := abMapper(t, mappingconfig.Options{ExperimentViewed: mappingconfig.ExperimentViewedInstead}, true)
	p, _ := m.MapAll(abBatch(), abEvent(statsig.ConfigExposure, `{"config":"`+statsig.DJB2("button_exp")+`","ruleID":"ruleCtl"}`))
	if p.Track.Event != ExperimentViewedEvent {
		t.Fatalf("event %q: %s", p.Track.Event, p.Track.AppendJSON(nil))
	}
	if got := evPropsOf(t, p.Track); got.ExperimentID != "button_exp" || got.VariationName != "Control" {
		t.Fatalf("properties %s", p.Track.Properties)
	}
}

// Statsig's webhook sends experiment exposures with the group already named:
// no specs are needed.
func TestExperimentViewedFromWebhookExposure(t *testing.T) {
	m := abMapper(t, mappingconfig.Options{ExperimentViewed: mappingconfig.ExperimentViewedAlongside}, false)
	p, extra := m.MapAll(abBatch(), abEvent(statsig.ExperimentExposure, `{"config":"pricing_experiment","ruleID":"4Sau","experimentGroupName":"Control"}`))
	if extra == nil {
		t.Fatalf("no Experiment Viewed for %s", p.Track.AppendJSON(nil))
	}
	checkExperimentViewed(t, extra.Track, p.Track)
	if got := evPropsOf(t, extra.Track); got.VariationName != "Control" || got.VariationID != "4Sau" || got.ExperimentID != "pricing_experiment" {
		t.Fatalf("properties %s", extra.Track.Properties)
	}
}

// Without a group there is no Experiment Viewed, and the reason is noted;
// "instead" then sends the exposure, so nothing is lost.
func TestExperimentViewedNeedsGroup(t *testing.T) {
	md := `{"config":"exp_checkout","ruleID":"r9"}`
	for _, mode := range []string{mappingconfig.ExperimentViewedAlongside, mappingconfig.ExperimentViewedInstead} {
		m := abMapper(t, mappingconfig.Options{ExperimentViewed: mode, Experiments: []string{"exp_*"}}, false)
		p, extra := m.MapAll(abBatch(), abEvent(statsig.ConfigExposure, md))
		if extra != nil || p.Status != Mapped || p.Track.Event != statsig.ExperimentExposure {
			t.Fatalf("%s: primary %s %q, extra %v; want the exposure alone", mode, abStatus(p.Status), p.Track.Event, extra)
		}
		if p.Note != NoteNoSpecs|NoteNoVariation || !p.Note.Unresolved() ||
			!strings.HasPrefix(p.Note.String(), "no config specs") || !strings.HasSuffix(p.Note.String(), NoteNoVariation.String()) {
			t.Fatalf("%s: note %q, want the resolution note then %q", mode, p.Note, NoteNoVariation)
		}
	}
}

// The type filter applies to the exposure; include/exclude to each
// outgoing name.
func TestExperimentViewedFilters(t *testing.T) {
	md := `{"config":"button_exp","ruleID":"ruleTest"}`
	cases := []struct {
		name            string
		opts            mappingconfig.Options
		primary, extra  string // outgoing event names; "" = none
		primaryFiltered bool
	}{
		{"type not selected, alongside", mappingconfig.Options{ExperimentViewed: mappingconfig.ExperimentViewedAlongside, Types: []statsig.Kind{statsig.KindGate}}, "", "", true},
		{"type not selected, instead", mappingconfig.Options{ExperimentViewed: mappingconfig.ExperimentViewedInstead, Types: []statsig.Kind{statsig.KindGate}}, "", "", true},
		{"Experiment Viewed excluded, alongside", mappingconfig.Options{ExperimentViewed: mappingconfig.ExperimentViewedAlongside, Exclude: []string{"Experiment*"}}, statsig.ExperimentExposure, "", false},
		{"Experiment Viewed excluded, instead", mappingconfig.Options{ExperimentViewed: mappingconfig.ExperimentViewedInstead, Exclude: []string{"Experiment Viewed"}}, "", "", true},
		{"exposure excluded, alongside", mappingconfig.Options{ExperimentViewed: mappingconfig.ExperimentViewedAlongside, Exclude: []string{"statsig::*"}}, ExperimentViewedEvent, "", false},
		{"include only Experiment Viewed", mappingconfig.Options{ExperimentViewed: mappingconfig.ExperimentViewedAlongside, Include: []string{"Experiment Viewed"}}, ExperimentViewedEvent, "", false},
		{"include only the exposure, alongside", mappingconfig.Options{ExperimentViewed: mappingconfig.ExperimentViewedAlongside, Include: []string{"statsig::*"}}, statsig.ExperimentExposure, "", false},
		{"both", mappingconfig.Options{ExperimentViewed: mappingconfig.ExperimentViewedAlongside}, statsig.ExperimentExposure, ExperimentViewedEvent, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, extra := abMapper(t, c.opts, true).MapAll(abBatch(), abEvent(statsig.ConfigExposure, md))
			if (p.Status == Filtered) != c.primaryFiltered {
				t.Fatalf("primary status %s (%s), want filtered=%v", abStatus(p.Status), p.Reason, c.primaryFiltered)
			}
			if p.Status != Filtered && p.Track.Event != c.primary {
				t.Errorf("primary %q, want %q", p.Track.Event, c.primary)
			}
			gotExtra := ""
			if extra != nil {
				gotExtra = extra.Track.Event
			}
			if gotExtra != c.extra {
				t.Errorf("extra %q, want %q", gotExtra, c.extra)
			}
		})
	}
}

// Events other than experiment exposures are exactly Map's result.
func TestExperimentViewedLeavesOtherEventsAlone(t *testing.T) {
	m := abMapper(t, mappingconfig.Options{ExperimentViewed: mappingconfig.ExperimentViewedInstead}, true)
	for _, e := range []*statsig.Event{
		abEvent(statsig.ConfigExposure, `{"config":"plain_config","ruleID":"r1"}`),
		abEvent(statsig.ConfigExposure, `{"config":"button_exp","ruleID":"targetingGate"}`), // in no group
		abEvent(statsig.GateExposure, `{"gate":"g","gateValue":"true","ruleID":"x"}`),
		abEvent("purchase", `{"sku":"a"}`),
	} {
		want := m.Map(abBatch(), e)
		p, extra := m.MapAll(abBatch(), e)
		if extra != nil || string(p.Track.AppendJSON(nil)) != string(want.Track.AppendJSON(nil)) || p.Note != want.Note {
			t.Errorf("%s %s: MapAll differs from Map", e.EventName, e.Metadata)
		}
	}
}

func TestExperimentViewedOptionValidated(t *testing.T) {
	errs := mappingconfig.Options{ExperimentViewed: "both"}.Validate()
	if len(errs) != 1 || !strings.HasPrefix(errs[0], "experiment_viewed:") {
		t.Fatalf("Validate = %v", errs)
	}
	for _, ok := range []string{"", "off", "alongside", "instead"} {
		if errs := (mappingconfig.Options{ExperimentViewed: ok}).Validate(); len(errs) != 0 {
			t.Errorf("%q: %v", ok, errs)
		}
	}
	if d := (mappingconfig.Options{}).WithDefaults().ExperimentViewed; d != mappingconfig.ExperimentViewedOff {
		t.Errorf("default %q", d)
	}
}

func abStatus(s Status) string {
	return [...]string{"mapped", "filtered", "invalid"}[s]
}
