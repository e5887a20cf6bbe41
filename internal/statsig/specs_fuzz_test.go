package statsig

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

// specsFixtures returns every testdata/fixtures/*/download_config_specs.json.
func specsFixtures(t testing.TB) [][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "..", "testdata", "fixtures", "*", "download_config_specs.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no config specs fixtures: %v", err)
	}
	slices.Sort(paths)
	var out [][]byte
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, raw)
	}
	return out
}

// The reference decoding is encoding/json into the wire types ParseSpecs
// reads (wireSpecs): the fuzz target checks what ParseSpecs builds from them.

// FuzzParseSpecs: ParseSpecs errs exactly when the document does not
// decode; it finds every config by name and every gate's and config's djb2
// hash resolves to a name of that hash; an experiment is in the first
// layer by name that lists it (an empty name is no layer); and the result does not depend on map order
// (parsing twice gives the same specs).
func FuzzParseSpecs(f *testing.F) {
	for _, raw := range specsFixtures(f) {
		f.Add(raw)
	}
	f.Add([]byte(`{"has_updates":false}`))
	f.Add([]byte(`{"has_updates":true,"time":5,"feature_gates":[{"name":"g"}],"dynamic_configs":[{"name":"e","entity":"experiment","rules":[{"id":"r","groupName":"Test","isExperimentGroup":true}]}],"layers":{"l1":["e"],"l2":["e","x"]}}`))
	f.Add([]byte(`{"dynamic_configs":[{"name":"a"},{"name":"a","entity":"autotune"}],"layer_configs":[{"name":"4047766591"}]}`))
	f.Add([]byte(`{"feature_gates":null,"time":"x"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := ParseSpecs(body)
		var ref wireSpecs
		refErr := json.Unmarshal(body, &ref)
		if err != nil {
			if s != nil {
				t.Fatalf("error %v with specs", err)
			}
			if refErr == nil && (ref.HasUpdates == nil || *ref.HasUpdates) && (ref.FeatureGates != nil || ref.DynamicConfigs != nil || ref.LayerConfigs != nil) {
				t.Fatalf("ParseSpecs: %v; encoding/json reads a document", err)
			}
			return
		}
		if refErr != nil {
			t.Fatalf("ParseSpecs accepted what encoding/json refuses: %v", refErr)
		}
		if s == nil {
			if ref.HasUpdates == nil || *ref.HasUpdates {
				t.Fatal("nil specs without has_updates: false")
			}
			return
		}
		if s.Time != ref.Time {
			t.Fatalf("time %d, want %d", s.Time, ref.Time)
		}
		for _, list := range [][]wireSpec{ref.DynamicConfigs, ref.LayerConfigs} {
			for _, c := range list {
				cs := s.Config(c.Name)
				if cs == nil || cs.Name != c.Name || cs.Entity == "" {
					t.Fatalf("Config(%q) = %+v", c.Name, cs)
				}
				if got := s.Resolve(c.Name); got != c.Name {
					t.Fatalf("Resolve(%q) = %q", c.Name, got)
				}
			}
		}
		for _, list := range [][]wireSpec{ref.FeatureGates, ref.DynamicConfigs, ref.LayerConfigs} {
			for _, c := range list {
				h := DJB2(c.Name)
				if _, isConfig := s.configs[h]; isConfig || s.gates[h] {
					continue // a real name that reads like a hash wins over the hash
				}
				if got := s.Resolve(h); DJB2(got) != h {
					t.Fatalf("Resolve(DJB2(%q) = %s) = %q, whose hash is %s", c.Name, h, got, DJB2(got))
				}
			}
		}
		for _, cs := range s.configs {
			want := "" // the first layer by name that lists it
			for layer, exps := range ref.Layers {
				if layer != "" && slices.Contains(exps, cs.Name) && (want == "" || layer < want) {
					want = layer
				}
			}
			if cs.Layer != want {
				t.Fatalf("%q in layer %q, want %q of %q", cs.Name, cs.Layer, want, ref.Layers)
			}
		}
		for i := 0; i < 3; i++ {
			again, err := ParseSpecs(body)
			if err != nil || !reflect.DeepEqual(again, s) {
				t.Fatalf("second parse differs (%v):\n%+v\n%+v", err, again, s)
			}
		}
	})
}
