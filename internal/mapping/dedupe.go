package mapping

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"

	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// ExposureKey returns the dedupe_exposures key of an exposure: the SHA-256
// hex of unit × entity × outcome, where
//
//   - unit is the outgoing userId, else anonymousId (the caller's);
//   - entity is the gate, the config or experiment, or the layer and its
//     parameter, by the name the SDK logged;
//   - outcome is the gate's value and rule, the config's rule (an
//     experiment's rule is its group), or the layer's rule and allocated
//     experiment.
//
// A changed outcome is a new key, so a user moved to another group, or a
// flipped gate, is a new exposure. The key is a digest: it is KV-legal
// whatever the IDs hold, and no identifier (an email used as userId)
// appears in the log's key names. It returns "" for an event that is not
// an exposure (custom events are never deduplicated) or has no unit.
func ExposureKey(e *statsig.Event, unit string) string {
	if unit == "" {
		return ""
	}
	kind := statsig.KindOf(e.EventName)
	var entity, fields []string
	members, _ := statsig.ObjectMembers(e.Metadata)
	get := func(name string) string { return memberString(members, name) }
	switch kind {
	case statsig.KindGate:
		entity = []string{"gate", get("gate")}
		fields = []string{get("gateValue"), get("ruleID")}
	case statsig.KindConfig, statsig.KindExperiment:
		// The webhook's experiment_exposure and an SDK's config_exposure
		// of the same experiment are the same entity.
		outcome := get("ruleID")
		if outcome == "" {
			outcome = get("experimentGroupName")
		}
		entity = []string{"config", get("config")}
		fields = []string{outcome}
	case statsig.KindLayer:
		entity = []string{"layer", get("config"), get("parameterName")}
		fields = []string{get("ruleID"), get("allocatedExperiment")}
	default:
		return ""
	}
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	for _, s := range append(append([]string{unit}, entity...), fields...) {
		// Length-prefixed: no choice of values can make two tuples collide.
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		h.Write([]byte(s))
	}
	return hex.EncodeToString(h.Sum(nil))
}
