package mapping

import "strings"

// Notes are what the user should know about how an event was mapped, such
// as an experiment that could not be resolved without config specs. They
// are a typed set, so that code decides on them (the unresolved-experiment
// metric, the debugger) and their texts can be reworded freely.
type Notes uint16

// The notes.
const (
	// NoteNoSpecs: no config specs; a config exposure whose name matches
	// mapping.experiments became an experiment exposure without a group.
	NoteNoSpecs Notes = 1 << iota
	// NoteNoSpecsGroupUnknown: no config specs; a layer exposure became an
	// exposure of its allocated experiment, group unknown.
	NoteNoSpecsGroupUnknown
	// NoteUnresolvedNoSpec: no config specs; a config exposure stays one.
	NoteUnresolvedNoSpec
	// NoteUnknownConfig: the config is not in the specs.
	NoteUnknownConfig
	// NoteNotInExperiment: the user is in none of the experiment's groups.
	NoteNotInExperiment
	// NoteNoVariation: no Experiment Viewed, the group being unknown.
	NoteNoVariation
	noteEnd
)

// noteTexts are the notes' texts, in bit order.
var noteTexts = [...]string{
	"no config specs: experiment resolved by configured name, group unknown",
	"no config specs: experiment group unknown",
	"no config specs: cannot tell experiments from configs",
	"config not in the config specs: reported as a config exposure",
	"user is in none of the experiment's groups (targeting, holdout or override rule): not an experiment exposure",
	"experiment group unknown: no Experiment Viewed, the exposure is sent as statsig::experiment_exposure",
}

// Unresolved reports whether an experiment could not be resolved for lack
// of config specs (counted in statsig_bridge_experiment_unresolved_events_total).
func (n Notes) Unresolved() bool {
	return n&(NoteNoSpecs|NoteNoSpecsGroupUnknown|NoteUnresolvedNoSpec) != 0
}

// String is the notes' texts joined by "; ", "" for none.
func (n Notes) String() string {
	var parts []string
	for i, text := range noteTexts {
		if n&(1<<i) != 0 {
			parts = append(parts, text)
		}
	}
	return strings.Join(parts, "; ")
}

// MarshalText writes the notes as their text (JSON of preview and tests).
func (n Notes) MarshalText() ([]byte, error) { return []byte(n.String()), nil }
