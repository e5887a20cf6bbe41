package mapping

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"github.com/statsig-bridge/statsig-bridge/internal/segment"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// resolveExperiment reports experiment exposures the way Statsig's hosted
// integration does. Every SDK logs an experiment as a config exposure, and a
// layer parameter as a layer exposure; only the project's config specs say
// that the config is an experiment and which group a rule is.
//
//   - config_exposure of an experiment → statsig::experiment_exposure with
//     metadata.experimentGroupName;
//   - layer_exposure of an explicit parameter → an exposure of the allocated
//     experiment (metadata.config = the experiment, metadata.layer = the
//     layer); implicit parameters do not count as experiment exposures in
//     Statsig and stay layer exposures.
func (m *Mapper) resolveExperiment(e *statsig.Event, kind statsig.Kind) (string, statsig.Kind, json.RawMessage, Notes) {
	name, metadata := e.EventName, e.Metadata
	if len(metadata) == 0 || metadata[0] != '{' {
		return name, kind, metadata, 0
	}
	md, err := statsig.DecodeExposureMetadata(metadata)
	if err != nil {
		return name, kind, metadata, 0
	}
	specs := m.specs()
	metadata, md = resolveHashedNames(metadata, md, specs)
	switch kind {
	case statsig.KindExperiment:
		if md.ExperimentGroupName == "" && specs != nil {
			if c := specs.Config(string(md.Config)); c != nil {
				if r, ok := c.Rules[string(md.RuleID)]; ok && r.GroupName != "" {
					metadata = addField(metadata, "experimentGroupName", r.GroupName)
				}
			}
		}
		return name, kind, metadata, 0
	case statsig.KindConfig:
		if specs == nil {
			if matchAny(m.opts.Experiments, string(md.Config)) {
				return statsig.ExperimentExposure, statsig.KindExperiment, metadata, NoteNoSpecs
			}
			return name, kind, metadata, NoteUnresolvedNoSpec
		}
		c := specs.Config(string(md.Config))
		if c == nil {
			return name, kind, metadata, NoteUnknownConfig
		}
		if !c.IsExperiment() {
			return name, kind, metadata, 0
		}
		r, ok := c.Rules[string(md.RuleID)]
		if !ok || !r.IsExperimentGroup {
			// Targeting gate failed, holdout, override, not started: the user
			// saw the experiment's config but is in none of its groups, and
			// Statsig's analysis does not count them.
			return name, kind, metadata, NoteNotInExperiment
		}
		if r.GroupName != "" && md.ExperimentGroupName == "" {
			metadata = addField(metadata, "experimentGroupName", r.GroupName)
		}
		return statsig.ExperimentExposure, statsig.KindExperiment, metadata, 0
	case statsig.KindLayer:
		if md.AllocatedExperiment == "" || md.IsExplicitParameter == "false" {
			return name, kind, metadata, 0
		}
		expName, group := string(md.AllocatedExperiment), ""
		var note Notes
		if specs != nil {
			if c := specs.Config(expName); c != nil {
				expName = c.Name
				r, ok := c.Rules[string(md.RuleID)]
				if !ok || !r.IsExperimentGroup {
					return name, kind, metadata, NoteNotInExperiment
				}
				group = r.GroupName
			} else {
				note = NoteUnknownConfig
			}
		} else {
			note = NoteNoSpecsGroupUnknown
		}
		// Rewritten as json.Marshal writes a map: members sorted by name
		// (and so are the edits).
		exp := quote(expName)
		edits := [...]statsig.MemberEdit{
			{Name: "allocatedExperiment", Value: exp},
			{Name: "config", Value: exp},
			{Name: "experimentGroupName", Value: quote(group)},
			{Name: "layer", From: "config"},
		}
		set := edits[:]
		if group == "" {
			set = slices.Delete(set, 2, 3)
		}
		out, err := statsig.AppendObjectEdited(make([]byte, 0, len(metadata)+len(expName)*2+len(group)+64), metadata, set)
		if err != nil {
			return name, kind, metadata, 0
		}
		return statsig.ExperimentExposure, statsig.KindExperiment, out, note
	}
	return name, kind, metadata, 0
}

// resolveHashedNames puts the plain names back where the js-client wrote
// djb2 hashes of names the app did not ask for: the layer exposure's
// allocatedExperiment (and config, should an SDK hash it too). It applies to
// every exposure, whether or not it becomes an experiment exposure, so no
// destination ever gets a hash of a name the config specs know; a hash they
// do not know stays as sent. metadata is rewritten only when a name changes.
func resolveHashedNames(metadata json.RawMessage, md statsig.ExposureMetadata, specs *statsig.Specs) (json.RawMessage, statsig.ExposureMetadata) {
	if specs == nil {
		return metadata, md
	}
	config, allocated := specs.Resolve(string(md.Config)), specs.Resolve(string(md.AllocatedExperiment))
	if config == string(md.Config) && allocated == string(md.AllocatedExperiment) {
		return metadata, md
	}
	var room [2]statsig.MemberEdit // sorted by name
	edits := room[:0]
	if allocated != string(md.AllocatedExperiment) {
		edits = append(edits, statsig.MemberEdit{Name: "allocatedExperiment", Value: quote(allocated)})
	}
	if config != string(md.Config) {
		edits = append(edits, statsig.MemberEdit{Name: "config", Value: quote(config)})
	}
	out, err := statsig.AppendObjectEdited(make([]byte, 0, len(metadata)+len(config)+len(allocated)+32), metadata, edits)
	if err != nil {
		return metadata, md
	}
	md.Config, md.AllocatedExperiment = statsig.FlexString(config), statsig.FlexString(allocated)
	return out, md
}

// memberValue returns the value of the named member, nil if there is none.
func memberValue(members []statsig.Member, name string) json.RawMessage {
	i, found := slices.BinarySearchFunc(members, name, func(m statsig.Member, name string) int { return strings.Compare(m.Name, name) })
	if !found {
		return nil
	}
	return members[i].Value
}

func quote(s string) json.RawMessage { return segment.AppendString(nil, s) }

// addField appends "key":"value" to a JSON object.
func addField(obj json.RawMessage, key, value string) json.RawMessage {
	trimmed := bytes.TrimRight(obj, " \t\r\n")
	if len(trimmed) < 2 || trimmed[len(trimmed)-1] != '}' {
		return obj
	}
	out := make([]byte, 0, len(trimmed)+len(key)+len(value)+8)
	out = append(out, trimmed[:len(trimmed)-1]...)
	if len(bytes.TrimSpace(trimmed[1:len(trimmed)-1])) > 0 {
		out = append(out, ',')
	}
	out = segment.AppendString(out, key)
	out = append(out, ':')
	out = segment.AppendString(out, value)
	return append(out, '}')
}
