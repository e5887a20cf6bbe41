package mapping_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"

	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// specNames lists every gate, config and layer name in a folder's config
// specs, read from the file itself rather than through statsig.Specs.
func specNames(t *testing.T, folder string) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(fixturesDir, folder, "download_config_specs.json"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, list := range []string{"feature_gates", "dynamic_configs", "layer_configs"} {
		var specs []struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(doc[list], &specs); err != nil {
			t.Fatalf("%s: %s: %v", folder, list, err)
		}
		for _, s := range specs {
			names = append(names, s.Name)
		}
	}
	return names
}

// TestNoHashOfAKnownNameIsSent maps every captured request in every
// experiment-viewed mode, secondary exposures included, and fails if a djb2
// hash of any name the folder's config specs know reaches a message: the
// js-client hashes allocatedExperiment and secondary gates, and each must
// arrive as its name wherever it appears, whatever the exposure becomes.
func TestNoHashOfAKnownNameIsSent(t *testing.T) {
	lib := mapping.Library{Name: "statsig-bridge", Version: "test"}
	resolved := 0
	for _, req := range loadFixtureRequests(t) {
		names := specNames(t, req.Folder)
		if names == nil {
			continue
		}
		s := loadSpecs(t, req.Folder)
		specsFn := func() *statsig.Specs { return s }
		hashes := map[string]string{}
		for _, n := range names {
			hashes[`"`+statsig.DJB2(n)+`"`] = n
		}
		b := req.Decode(t)
		for _, mode := range []string{mappingconfig.ExperimentViewedOff, mappingconfig.ExperimentViewedAlongside, mappingconfig.ExperimentViewedInstead} {
			m := mapping.New(mappingconfig.Options{ExperimentViewed: mode, SecondaryExposures: true}, specsFn, lib)
			for i := range b.Events {
				e := &b.Events[i]
				primary, extra := m.MapAll(b, e)
				for _, r := range []*mapping.Result{&primary, extra} {
					if r == nil || r.Status != mapping.Mapped {
						continue
					}
					out := string(r.Track.AppendJSON(nil))
					for h, n := range hashes {
						if strings.Contains(out, h) {
							t.Errorf("%s/%s event %d (%s, %s): the hash %s of %q was sent:\n%s", req.Folder, req.Name, i, e.EventName, mode, h, n, out)
						}
					}
					for h := range hashes {
						if strings.Contains(string(e.Metadata)+string(e.SecondaryExposures), h) {
							resolved++
						}
					}
				}
			}
		}
	}
	if resolved == 0 {
		t.Fatal("no fixture event carries a hashed name: the test checks nothing")
	}
	t.Logf("%d sent messages came from events with hashed names", resolved)
}
