package mapping

import (
	"strings"

	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// DefaultEnvironment is the tier of an event that names none: Statsig
// evaluates and reports such users as production.
const DefaultEnvironment = "production"

// Filter says which rule filtered an event: the label of
// statsig_bridge_filtered_events_total's reason and what code decides on.
type Filter string

// The filters.
const (
	FilterType        Filter = "type"
	FilterName        Filter = "name"
	FilterEnvironment Filter = "environment"
	// FilterSource: the Statsig tee forwards neither Statsig's own webhook
	// events nor imported history.
	FilterSource Filter = "source"
	// FilterDuplicateExposure is dedupe_exposures: the runner's decision,
	// which needs the shared state in the log.
	FilterDuplicateExposure Filter = "duplicate_exposure"
)

// Tier returns the event's Statsig environment tier, lower-cased: the
// user's statsigEnvironment.tier; for an event from Statsig's webhook
// without one, its metadata's environment (config changes carry it there);
// else DefaultEnvironment.
func Tier(b *statsig.Batch, e *statsig.Event) string {
	if u := e.User; u != nil && len(u.StatsigEnvironment) > 0 && u.StatsigEnvironment[0] == '{' {
		if members, err := statsig.ObjectMembers(u.StatsigEnvironment); err == nil {
			if t := memberString(members, "tier"); t != "" {
				return strings.ToLower(t)
			}
		}
	}
	if b.Source == statsig.SourceWebhook && len(e.Metadata) > 0 && e.Metadata[0] == '{' {
		if members, err := statsig.ObjectMembers(e.Metadata); err == nil {
			if t := memberString(members, "environment"); t != "" {
				return strings.ToLower(t)
			}
		}
	}
	return DefaultEnvironment
}

// environmentFiltered returns the Filtered result for an event whose tier
// the destination does not list, or ok false when it may pass.
func (m *Mapper) environmentFiltered(b *statsig.Batch, e *statsig.Event) (Result, bool) {
	if len(m.envs) == 0 {
		return Result{}, false
	}
	tier := Tier(b, e)
	if m.envs[tier] {
		return Result{}, false
	}
	return Result{Status: Filtered, Filter: FilterEnvironment, Reason: "environment: tier " + tier + " not in environments",
		Kind: statsig.KindOf(e.EventName)}, true
}
