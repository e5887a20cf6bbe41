package statsig

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf16"
)

// Specs is what the bridge needs from a project's config specs (the v1
// download_config_specs JSON that the Go and Node server SDKs fetch): which
// configs are experiments, the group name of each rule, and which experiments
// a layer delegates to.
type Specs struct {
	// Time is the specs' "time" (ms), the sinceTime of the next refresh.
	Time    int64
	configs map[string]*ConfigSpec
	gates   map[string]bool
	// hashed maps djb2(name) → name for every gate, config and layer: the
	// js-client reports names it was not asked for as djb2 hashes.
	hashed map[string]string
}

// ConfigSpec is one dynamic config, experiment, autotune or layer.
type ConfigSpec struct {
	Name   string
	Entity string // "experiment", "dynamic_config", "autotune", "layer", …
	IDType string
	Rules  map[string]RuleSpec
	// Layer is the layer an experiment is allocated in, if any.
	Layer string
}

// RuleSpec is one rule of a config.
type RuleSpec struct {
	ID                string
	GroupName         string
	IsExperimentGroup bool
}

// IsExperiment reports whether the config is an experiment (or autotune).
func (c *ConfigSpec) IsExperiment() bool {
	return c != nil && (c.Entity == "experiment" || c.Entity == "autotune")
}

type wireSpecs struct {
	HasUpdates     *bool               `json:"has_updates"`
	Time           int64               `json:"time"`
	FeatureGates   []wireSpec          `json:"feature_gates"`
	DynamicConfigs []wireSpec          `json:"dynamic_configs"`
	LayerConfigs   []wireSpec          `json:"layer_configs"`
	Layers         map[string][]string `json:"layers"`
}

type wireSpec struct {
	Name   string `json:"name"`
	Entity string `json:"entity"`
	IDType string `json:"idType"`
	Rules  []struct {
		ID                string `json:"id"`
		GroupName         string `json:"groupName"`
		IsExperimentGroup *bool  `json:"isExperimentGroup"`
	} `json:"rules"`
}

// ParseSpecs reads a v1 download_config_specs document. It returns nil specs
// and no error when the document says has_updates: false.
func ParseSpecs(body []byte) (*Specs, error) {
	var w wireSpecs
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("parsing config specs: %s", jsonErrText(err))
	}
	if w.HasUpdates != nil && !*w.HasUpdates {
		return nil, nil
	}
	if w.FeatureGates == nil && w.DynamicConfigs == nil && w.LayerConfigs == nil {
		return nil, fmt.Errorf("parsing config specs: no feature_gates, dynamic_configs or layer_configs (is this the v1 format?)")
	}
	s := &Specs{Time: w.Time, configs: map[string]*ConfigSpec{}, gates: map[string]bool{}, hashed: map[string]string{}}
	for _, g := range w.FeatureGates {
		s.gates[g.Name] = true
		s.hashed[DJB2(g.Name)] = g.Name
	}
	add := func(list []wireSpec, defaultEntity string) {
		for _, c := range list {
			cs := &ConfigSpec{Name: c.Name, Entity: c.Entity, IDType: c.IDType, Rules: make(map[string]RuleSpec, len(c.Rules))}
			if cs.Entity == "" {
				cs.Entity = defaultEntity
			}
			for _, r := range c.Rules {
				rs := RuleSpec{ID: r.ID, GroupName: r.GroupName}
				if r.IsExperimentGroup != nil {
					rs.IsExperimentGroup = *r.IsExperimentGroup
				}
				cs.Rules[r.ID] = rs
			}
			s.configs[c.Name] = cs
			s.hashed[DJB2(c.Name)] = c.Name
		}
	}
	add(w.DynamicConfigs, "dynamic_config")
	add(w.LayerConfigs, "layer")
	// An experiment is allocated in one layer. Should a document list it
	// in several, the first by name wins, not whichever the map gives first:
	// the same specs must map events the same way on every node.
	layers := make([]string, 0, len(w.Layers))
	for layer := range w.Layers {
		layers = append(layers, layer)
	}
	slices.Sort(layers)
	for _, layer := range layers {
		if layer == "" {
			continue // no layer's name
		}
		for _, e := range w.Layers[layer] {
			if c := s.configs[e]; c != nil && c.Layer == "" {
				c.Layer = layer
			}
		}
	}
	return s, nil
}

// Config returns the spec of a dynamic config, experiment or layer by name
// (or by its djb2 hash), or nil.
func (s *Specs) Config(name string) *ConfigSpec {
	if s == nil {
		return nil
	}
	if c := s.configs[name]; c != nil {
		return c
	}
	if n, ok := s.hashed[name]; ok {
		return s.configs[n]
	}
	return nil
}

// Resolve returns the plain name behind a djb2-hashed name, or the name
// itself when it is not a known hash.
func (s *Specs) Resolve(name string) string {
	if s == nil {
		return name
	}
	if _, ok := s.configs[name]; ok {
		return name
	}
	if s.gates[name] {
		return name
	}
	if n, ok := s.hashed[name]; ok {
		return n
	}
	return name
}

// DJB2 is the js-client's name hash: djb2 over UTF-16 code units in 32-bit
// arithmetic, printed as an unsigned decimal.
func DJB2(s string) string {
	var h int32
	for _, c := range utf16.Encode([]rune(s)) {
		h = (h << 5) - h + int32(c)
	}
	return strconv.FormatUint(uint64(uint32(h)), 10)
}
