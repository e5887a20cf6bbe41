package cli

import (
	"context"

	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"

	"github.com/statsig-bridge/statsig-bridge/internal/config"
	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// previewState applies a destination's dedupe_exposures and identify to
// preview's input with the runner's own Dedupe and Identities over state in
// memory: the input is shown as a bridge that has seen none of it before
// would send it.
type previewState struct {
	dedupe     *destination.Dedupe
	identities *destination.Identities
}

func newPreviewState(d config.Destination) previewState {
	var s previewState
	if w := d.Mapping.DedupeExposures.Duration(); w > 0 {
		s.dedupe = destination.NewDedupe(destination.NewMemoryState(), w, 0)
	}
	if d.Mapping.Identify == mappingconfig.IdentifyOnChange {
		s.identities = destination.NewIdentities(destination.NewMemoryState(), d.Mapping.IdentifyHorizon.Duration(), 0)
	}
	return s
}

// apply filters a repeated exposure in r and returns the identify due
// ahead of the event, or nil. Memory state does not fail.
func (s previewState) apply(e *statsig.Event, r *destination.Encoded) []byte {
	ctx := context.Background()
	if r.Filtered || r.Invalid {
		return nil
	}
	if s.dedupe != nil && r.Dedupe != "" {
		if first, _ := s.dedupe.First(ctx, []string{r.Dedupe}, []string{e.ID}); !first[0] {
			r.Filtered, r.Filter, r.Reason = true, mapping.FilterDuplicateExposure, string(mapping.FilterDuplicateExposure)
			r.Payload, r.Extra = nil, nil
			return nil
		}
	}
	if s.identities != nil && r.Identify != nil {
		id := r.Identify
		if due, _ := s.identities.Due(ctx, []string{id.Unit}, []string{id.TraitsHash}); due[0] {
			_ = s.identities.Record(ctx, []string{id.Unit}, []string{id.TraitsHash})
			return id.JSON
		}
	}
	return nil
}
