package mapping_test

import (
	"bytes"
	"testing"

	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// MapAllInto must write what MapAll writes, whatever scratch held before
// and however small it is: one scratch, dirtied before each event, is
// reused across every fixture event in each experiment_viewed mode.
func TestMapAllIntoWritesWhatMapAllWrites(t *testing.T) {
	for _, mode := range []string{mappingconfig.ExperimentViewedOff, mappingconfig.ExperimentViewedAlongside, mappingconfig.ExperimentViewedInstead} {
		for _, size := range []int{0, 16, 8 << 10} {
			scratch := make([]byte, 0, size)
			for _, req := range loadFixtureRequests(t) {
				s := loadSpecs(t, req.Folder)
				m := mapping.New(mappingconfig.Options{ExperimentViewed: mode}, func() *statsig.Specs { return s }, mapping.Library{Name: "statsig-bridge", Version: "test"})
				b := req.Decode(t)
				for i := range b.Events {
					e := &b.Events[i]
					want, wantExtra := m.MapAll(b, e)
					dirty := scratch[:cap(scratch)]
					for j := range dirty {
						dirty[j] = '#'
					}
					got, gotExtra := m.MapAllInto(scratch, b, e)
					if w, g := want.Track.AppendJSON(nil), got.Track.AppendJSON(nil); !bytes.Equal(w, g) || want.Status != got.Status || want.Reason != got.Reason {
						t.Fatalf("%s %s/%s event %d, scratch %d: MapAllInto gives\n%s (%v %q), MapAll\n%s (%v %q)", mode, req.Folder, req.Name, i, size, g, got.Status, got.Reason, w, want.Status, want.Reason)
					}
					if (wantExtra == nil) != (gotExtra == nil) {
						t.Fatalf("%s %s/%s event %d: extra %v vs %v", mode, req.Folder, req.Name, i, gotExtra, wantExtra)
					}
					if wantExtra != nil {
						if w, g := wantExtra.Track.AppendJSON(nil), gotExtra.Track.AppendJSON(nil); !bytes.Equal(w, g) {
							t.Fatalf("%s %s/%s event %d: extra\n%s, MapAll's\n%s", mode, req.Folder, req.Name, i, g, w)
						}
					}
				}
			}
		}
	}
}
