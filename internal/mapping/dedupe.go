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
	if kind != statsig.KindGate && kind != statsig.KindConfig && kind != statsig.KindExperiment && kind != statsig.KindLayer {
		return ""
	}
	// The scanner of the log's exposure metadata: no allocation per member.
	md, _ := statsig.DecodeExposureMetadata(e.Metadata)
	var fields [6]string
	switch kind {
	case statsig.KindGate:
		fields = [6]string{unit, "gate", string(md.Gate), "", string(md.GateValue), string(md.RuleID)}
	case statsig.KindConfig, statsig.KindExperiment:
		// The webhook's experiment_exposure and an SDK's config_exposure
		// of the same experiment are the same entity.
		outcome := md.RuleID
		if outcome == "" {
			outcome = md.ExperimentGroupName
		}
		fields = [6]string{unit, "config", string(md.Config), "", string(outcome), ""}
	case statsig.KindLayer:
		fields = [6]string{unit, "layer", string(md.Config), string(md.ParameterName), string(md.RuleID), string(md.AllocatedExperiment)}
	}
	var scratch [256]byte
	buf := scratch[:0]
	for _, f := range fields {
		// Length-prefixed: no choice of values can make two tuples collide.
		buf = binary.AppendUvarint(buf, uint64(len(f)))
		buf = append(buf, f...)
	}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:])
}
