package mapping

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"

	"github.com/statsig-bridge/statsig-bridge/internal/segment"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// Segment's A/B Testing spec: one semantic event, sent every time a user
// sees a variation of an active test, with four string properties. Segment
// destinations (Amplitude, Mixpanel, …) and the warehouse table
// experiment_viewed understand it without knowing Statsig.
const (
	// ExperimentViewedEvent is the spec's event name.
	ExperimentViewedEvent = "Experiment Viewed"
	// experimentViewedSalt derives its messageId from the exposure's.
	experimentViewedSalt = "experiment_viewed"
)

// MapAll maps one event like Map, plus Segment's "Experiment Viewed" when the
// destination asks for it (mappingconfig.Options.ExperimentViewed):
//
//   - "off": exactly Map; extra is nil.
//   - "alongside": primary is Map's result; extra is Experiment Viewed for
//     an event that maps to statsig::experiment_exposure (after experiment
//     resolution: config exposures of experiments, explicit layer
//     parameters resolved to their allocated experiment, webhook experiment
//     exposures).
//   - "instead": primary is Experiment Viewed for such an event, extra nil;
//     every other event is exactly Map's result.
//
// Filters: the type filter applies to the exposure (kind
// experiment_exposure): Experiment Viewed is sent only when that kind is
// selected. Include and exclude globs apply to each outgoing name, so
// exclude: ["Experiment Viewed"] turns it off, and with "alongside" an
// exposure whose own name is excluded still yields Experiment Viewed, then
// as the primary result.
//
// An exposure whose group is unknown yields no Experiment Viewed (see
// NoteNoVariation); with "instead" it is sent as the exposure, so nothing
// is lost. Experiment Viewed has the exposure's userId, anonymousId,
// timestamps and context, and a messageId derived from the exposure's
// (statsig.DeriveID), so redelivery deduplicates both.
func (m *Mapper) MapAll(b *statsig.Batch, e *statsig.Event) (primary Result, extra *Result) {
	return m.MapAllInto(nil, b, e)
}

// MapAllInto is MapAll writing the mapped event's properties and context
// into scratch's capacity, when they fit, instead of a buffer of their own:
// for a caller that copies a Result's Track into a message and drops it
// (the Segment path, where that buffer was one of an event's two large
// allocations). The Results refer to scratch until it is reused.
func (m *Mapper) MapAllInto(scratch []byte, b *statsig.Batch, e *statsig.Event) (primary Result, extra *Result) {
	mode := m.opts.ExperimentViewed
	if mode != mappingconfig.ExperimentViewedAlongside && mode != mappingconfig.ExperimentViewedInstead {
		return m.mapEvent(b, e, scratch), nil
	}
	if res, filtered := m.environmentFiltered(b, e); filtered {
		return res, nil
	}
	sent := statsig.KindOf(e.EventName)
	if sent != statsig.KindConfig && sent != statsig.KindLayer && sent != statsig.KindExperiment {
		return m.mapEvent(b, e, scratch), nil
	}
	var raw Result
	if mode == mappingconfig.ExperimentViewedAlongside {
		raw = m.mapEvent(b, e, scratch)
		if raw.Kind != statsig.KindExperiment || raw.Status == Invalid || !m.types[raw.Kind] {
			return raw, nil
		}
	}
	// Map resolved the experiment too but keeps the metadata to itself;
	// resolving again costs one small decode, only with this option on.
	_, kind, metadata, note := m.resolveExperiment(e, sent)
	if kind != statsig.KindExperiment || !m.types[kind] {
		if mode == mappingconfig.ExperimentViewedInstead {
			return m.mapEvent(b, e, scratch), nil
		}
		return raw, nil
	}
	props, ok := m.experimentViewedProperties(metadata)
	if !ok {
		if mode == mappingconfig.ExperimentViewedInstead {
			raw = m.mapEvent(b, e, scratch)
		}
		raw.Note |= NoteNoVariation
		return raw, nil
	}
	if reason := m.nameFilter(ExperimentViewedEvent); reason != "" {
		if mode == mappingconfig.ExperimentViewedInstead {
			return Result{Status: Filtered, Filter: FilterName, Reason: reason, Kind: kind, Note: note}, nil
		}
		return raw, nil
	}
	rawSent := mode == mappingconfig.ExperimentViewedAlongside && raw.Status == Mapped
	var context json.RawMessage
	if rawSent {
		context = raw.Track.Context // immutable once built: shared
	}
	ev := m.experimentViewed(b, e, kind, note, props, context)
	if rawSent {
		return raw, &ev
	}
	return ev, nil
}

// nameFilter returns why the include/exclude globs refuse an outgoing event
// name, or "" (the same rule and reasons as Map).
func (m *Mapper) nameFilter(name string) string {
	if len(m.opts.Include) > 0 && !matchAny(m.opts.Include, name) {
		return "event name not in include list"
	}
	if matchAny(m.opts.Exclude, name) {
		return "event name excluded"
	}
	return ""
}

// experimentViewed builds the Experiment Viewed Track for an exposure;
// context is the exposure's, or nil to build it.
func (m *Mapper) experimentViewed(b *statsig.Batch, e *statsig.Event, kind statsig.Kind, note Notes, props, context json.RawMessage) Result {
	res := Result{Kind: kind, Note: note}
	original, corrected := b.EventTime(e)
	t := &res.Track
	t.MessageID = statsig.DeriveID(e.ID, experimentViewedSalt)
	t.Event = ExperimentViewedEvent
	t.UserID = m.identifier(m.opts.UserID, b, e)
	t.AnonymousID = m.identifier(m.opts.AnonymousID, b, e)
	t.Timestamp = time.UnixMilli(corrected)
	t.OriginalTimestamp = time.UnixMilli(original)
	t.Properties = props
	if context == nil {
		context = m.context(make([]byte, 0, m.contextSize(b, e)), b, e)
	}
	t.Context = context
	if err := t.Validate(); err != nil {
		res.Status, res.Reason = Invalid, err.Error()
	}
	return res
}

// experimentViewedProperties returns the spec's properties for a resolved
// experiment exposure's metadata, all strings:
//
//   - experiment_id and experiment_name: the experiment's name (its
//     config name; the config specs give an experiment no other stable ID);
//   - variation_id: the rule ID, which is the group's ID in the specs
//     (the group name when an exposure has no ruleID);
//   - variation_name: experimentGroupName, added from the specs by
//     experiment resolution or sent by Statsig's webhook;
//   - layer, for an experiment reached through a layer parameter.
//
// ok is false when the experiment or its group is unknown.
func (m *Mapper) experimentViewedProperties(metadata json.RawMessage) (json.RawMessage, bool) {
	if len(metadata) == 0 || metadata[0] != '{' {
		return nil, false
	}
	members, err := statsig.ObjectMembers(metadata)
	if err != nil {
		return nil, false
	}
	experiment := memberString(members, "config")
	group := memberString(members, "experimentGroupName")
	if experiment == "" || group == "" {
		return nil, false
	}
	// The js-client may name a config by its djb2 hash.
	if c := m.specs().Config(experiment); c != nil {
		experiment = c.Name
	}
	variation := memberString(members, "ruleID")
	if variation == "" {
		variation = group
	}
	layer := memberString(members, "layer")
	p := make([]byte, 0, 96+2*len(experiment)+len(variation)+len(group)+len(layer))
	p = append(p, `{"experiment_id":`...)
	p = segment.AppendString(p, experiment)
	p = append(p, `,"experiment_name":`...)
	p = segment.AppendString(p, experiment)
	p = append(p, `,"variation_id":`...)
	p = segment.AppendString(p, variation)
	p = append(p, `,"variation_name":`...)
	p = segment.AppendString(p, group)
	if layer != "" {
		p = append(p, `,"layer":`...)
		p = segment.AppendString(p, layer)
	}
	return append(p, '}'), true
}

// memberString returns a member's value as a string (numbers as their
// text), "" when absent, null or not a scalar.
func memberString(members []statsig.Member, name string) string {
	v := memberValue(members, name)
	if v == nil {
		return ""
	}
	var s statsig.FlexString
	if s.UnmarshalJSON(v) != nil {
		return ""
	}
	return strings.TrimSpace(string(s))
}
