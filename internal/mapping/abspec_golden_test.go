package mapping_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"

	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

var experimentViewedGoldenDir = filepath.Join(goldenDir, "experiment_viewed")

// abEvent is one fixture event mapped with every experiment_viewed mode.
type abEvent struct {
	Event                   *statsig.Event
	Off, Alongside, Instead mapping.Result
	OffExtra, Extra         *mapping.Result
	InsteadExtra            *mapping.Result
	Map                     mapping.Result // Map with the alongside options
}

type abFixture struct {
	Req    fixtureRequest
	Events []abEvent
}

// mapFixturesExperimentViewed maps every fixture request with the default
// options plus each experiment_viewed mode, and the folder's config specs.
func mapFixturesExperimentViewed(t *testing.T) []abFixture {
	t.Helper()
	specs := map[string]*statsig.Specs{}
	lib := mapping.Library{Name: "statsig-bridge", Version: "test"}
	var out []abFixture
	for _, req := range loadFixtureRequests(t) {
		s, ok := specs[req.Folder]
		if !ok {
			s = loadSpecs(t, req.Folder)
			specs[req.Folder] = s
		}
		var specsFn func() *statsig.Specs
		if s != nil {
			specsFn = func() *statsig.Specs { return s }
		}
		off := mapping.New(mappingconfig.Options{ExperimentViewed: mappingconfig.ExperimentViewedOff}, specsFn, lib)
		along := mapping.New(mappingconfig.Options{ExperimentViewed: mappingconfig.ExperimentViewedAlongside}, specsFn, lib)
		instead := mapping.New(mappingconfig.Options{ExperimentViewed: mappingconfig.ExperimentViewedInstead}, specsFn, lib)
		b := req.Decode(t)
		f := abFixture{Req: req}
		for i := range b.Events {
			e := &b.Events[i]
			var ae abEvent
			ae.Event = e
			ae.Off, ae.OffExtra = off.MapAll(b, e)
			ae.Alongside, ae.Extra = along.MapAll(b, e)
			ae.Instead, ae.InsteadExtra = instead.MapAll(b, e)
			ae.Map = along.Map(b, e)
			f.Events = append(f.Events, ae)
		}
		out = append(out, f)
	}
	return out
}

// TestGoldenExperimentViewed maps every captured request with
// experiment_viewed: alongside and the folder's config specs, and compares
// the Experiment Viewed messages (one Track JSON a line, in request order)
// with testdata/golden/experiment_viewed/<folder>/<name>.jsonl. It also
// checks what the goldens must show: one Experiment Viewed per experiment
// exposure, beside it, with its identity and times, four string properties
// that agree with the exposure's metadata, and a messageId of its own.
func TestGoldenExperimentViewed(t *testing.T) {
	fixtures := mapFixturesExperimentViewed(t)
	seen := map[string]bool{}
	ids := map[string]string{}
	var exposures, viewed int
	for _, f := range fixtures {
		rel := filepath.Join(f.Req.Folder, f.Req.Name+".jsonl")
		seen[rel] = true
		var got []byte
		for i, ae := range f.Events {
			where := f.Req.Folder + "/" + f.Req.Name + " event " + itoa(i)
			if ae.Alongside.Status == mapping.Mapped && ae.Alongside.Track.Event == statsig.ExperimentExposure {
				exposures++
				if ae.Extra == nil {
					t.Errorf("%s: experiment exposure without Experiment Viewed (note %q)", where, ae.Alongside.Note)
					continue
				}
			}
			if ae.Extra == nil {
				continue
			}
			viewed++
			ev := ae.Extra.Track
			msg := ev.AppendJSON(nil)
			if !json.Valid(msg) {
				t.Fatalf("%s: invalid JSON %s", where, msg)
			}
			exp := ae.Alongside.Track
			if exp.Event != statsig.ExperimentExposure {
				t.Errorf("%s: Experiment Viewed beside %q", where, exp.Event)
			}
			if ev.UserID != exp.UserID || ev.AnonymousID != exp.AnonymousID || !ev.Timestamp.Equal(exp.Timestamp) ||
				!ev.OriginalTimestamp.Equal(exp.OriginalTimestamp) || !bytes.Equal(ev.Context, exp.Context) {
				t.Errorf("%s: identity, times or context differ from the exposure", where)
			}
			if prev, dup := ids[ev.MessageID]; dup {
				t.Errorf("%s: messageId %s also used by %s", where, ev.MessageID, prev)
			}
			ids[ev.MessageID] = where
			if ev.MessageID != statsig.DeriveID(exp.MessageID, "experiment_viewed") || len(ev.MessageID) > 100 {
				t.Errorf("%s: messageId %q not derived from the exposure's %q", where, ev.MessageID, exp.MessageID)
			}
			p := evProperties(t, ev.Properties)
			md := decodeMessage(t, exp.AppendJSON(nil)).Properties.Metadata
			if p["experiment_id"] != md["config"] || p["experiment_name"] != md["config"] ||
				p["variation_id"] != md["ruleID"] || p["variation_name"] != md["experimentGroupName"] {
				t.Errorf("%s: properties %s disagree with the exposure's metadata %v", where, ev.Properties, md)
			}
			if l, ok := md["layer"]; ok && p["layer"] != l {
				t.Errorf("%s: layer %q, exposure's %v", where, p["layer"], l)
			}
			got = append(append(got, msg...), '\n')
		}
		path := filepath.Join(experimentViewedGoldenDir, rel)
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("reading golden (run `go test ./internal/mapping -run Golden -update` to create it): %v", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("Experiment Viewed of %s differs from %s (rerun with -update if the change is intended):\n%s", rel, path, lineDiff(want, got))
		}
	}
	stale, _ := filepath.Glob(filepath.Join(experimentViewedGoldenDir, "*", "*.jsonl"))
	for _, p := range stale {
		rel, _ := filepath.Rel(experimentViewedGoldenDir, p)
		if seen[rel] {
			continue
		}
		if *update {
			os.Remove(p)
			continue
		}
		t.Errorf("golden %s has no fixture request (rerun with -update to remove it)", p)
	}
	if exposures == 0 || viewed != exposures {
		t.Fatalf("%d experiment exposures, %d Experiment Viewed: want as many, and more than 0", exposures, viewed)
	}
	t.Logf("%d experiment exposures, %d Experiment Viewed", exposures, viewed)
}

// evProperties decodes Experiment Viewed properties and fails unless the
// spec's four are non-empty strings (segment-reference check 30).
func evProperties(t *testing.T, raw json.RawMessage) map[string]string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("properties %s: %v", raw, err)
	}
	out := map[string]string{}
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			t.Errorf("properties.%s = %#v: not a string", k, v)
		}
		out[k] = s
	}
	for _, k := range []string{"experiment_id", "experiment_name", "variation_id", "variation_name"} {
		if out[k] == "" {
			t.Errorf("properties.%s missing or empty in %s", k, raw)
		}
	}
	return out
}

// The three SDK captures of one project put the same users in the same
// groups; Experiment Viewed must say so whichever SDK sent the exposure,
// with variation_name Control or Test and variation_id that group's rule.
func TestExperimentViewedAgreesAcrossSDKs(t *testing.T) {
	groupRule := map[string]string{"Control": "5yQbPMfmKQdiRV35hS3B2l", "Test": "5yQbPMfmKQdiRV35hS3B2m"}
	sets := map[string]map[exposureKey]bool{}
	for _, f := range mapFixturesExperimentViewed(t) {
		switch f.Req.Folder {
		case "go-sdk-layers", "js-client", "node-core":
		default:
			continue
		}
		if sets[f.Req.Folder] == nil {
			sets[f.Req.Folder] = map[exposureKey]bool{}
		}
		for _, ae := range f.Events {
			if ae.Extra == nil {
				continue
			}
			ev := ae.Extra.Track
			p := evProperties(t, ev.Properties)
			if p["experiment_id"] != "bridge_button_experiment" {
				t.Errorf("%s/%s: experiment_id %q", f.Req.Folder, f.Req.Name, p["experiment_id"])
				continue
			}
			rule, ok := groupRule[p["variation_name"]]
			if !ok || p["variation_id"] != rule {
				t.Errorf("%s/%s: variation %q/%q, want Control or Test with its rule", f.Req.Folder, f.Req.Name, p["variation_id"], p["variation_name"])
			}
			if ev.UserID != "" {
				sets[f.Req.Folder][exposureKey{ev.UserID, p["experiment_id"], p["variation_name"]}] = true
			}
		}
	}
	goSet, nodeSet, jsSet := sets["go-sdk-layers"], sets["node-core"], sets["js-client"]
	if len(goSet) == 0 || len(nodeSet) == 0 || len(jsSet) == 0 {
		t.Fatalf("no Experiment Viewed with a userId: go %d, node-core %d, js-client %d", len(goSet), len(nodeSet), len(jsSet))
	}
	if d := setDiff(goSet, nodeSet); d != "" {
		t.Errorf("go-sdk-layers and node-core disagree:\n%s", d)
	}
	for k := range jsSet {
		if !goSet[k] || !nodeSet[k] {
			t.Errorf("js-client reports %s; go-sdk-layers has it: %v, node-core: %v", k, goSet[k], nodeSet[k])
		}
	}
	t.Logf("go-sdk-layers %d, node-core %d, js-client %d (user, experiment, variation) triples", len(goSet), len(nodeSet), len(jsSet))
}

// "instead" sends exactly what "alongside" sends, each experiment exposure
// replaced by its Experiment Viewed; "off" sends exactly what Map sends.
func TestExperimentViewedInsteadAndOff(t *testing.T) {
	var replaced, deadLettered, events int
	for _, f := range mapFixturesExperimentViewed(t) {
		for i, ae := range f.Events {
			events++
			where := f.Req.Folder + "/" + f.Req.Name + " event " + itoa(i)
			if ae.OffExtra != nil || ae.InsteadExtra != nil {
				t.Errorf("%s: off or instead returned a second message", where)
			}
			if !sameResult(ae.Off, ae.Map) || ae.Off.Note != ae.Map.Note || !sameResult(ae.Alongside, ae.Map) {
				t.Errorf("%s: off/alongside primary differs from Map", where)
			}
			if ae.Alongside.Status == mapping.Invalid && ae.Alongside.Track.Event == statsig.ExperimentExposure {
				// An exposure Segment cannot take (no userId, no
				// anonymousId) is dead-lettered as the message it would
				// have been.
				if ae.Instead.Status != mapping.Invalid || ae.Instead.Reason != ae.Alongside.Reason || ae.Instead.Track.Event != mapping.ExperimentViewedEvent {
					t.Errorf("%s: instead %s %q (%s), want Experiment Viewed dead-lettered as %s", where, ae.Instead.Track.Event, ae.Instead.Reason, ae.Instead.Note, ae.Alongside.Reason)
				}
				deadLettered++
				continue
			}
			want := ae.Alongside
			if ae.Extra != nil {
				want = *ae.Extra
				replaced++
			}
			if !sameResult(ae.Instead, want) {
				t.Errorf("%s: instead sent %s, want %s", where, ae.Instead.Track.AppendJSON(nil), want.Track.AppendJSON(nil))
			}
			if ae.Instead.Status == mapping.Mapped && ae.Instead.Track.Event == statsig.ExperimentExposure {
				t.Errorf("%s: instead still sent the exposure (note %q)", where, ae.Instead.Note)
			}
		}
	}
	if replaced == 0 {
		t.Fatal("no exposure replaced")
	}
	t.Logf("%d events, %d exposures replaced by Experiment Viewed, %d dead-lettered as Experiment Viewed", events, replaced, deadLettered)
}

func sameResult(a, b mapping.Result) bool {
	return a.Status == b.Status && a.Kind == b.Kind && a.Reason == b.Reason &&
		bytes.Equal(a.Track.AppendJSON(nil), b.Track.AppendJSON(nil))
}

func itoa(i int) string { return strconv.Itoa(i) }
