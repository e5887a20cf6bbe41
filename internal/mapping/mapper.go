package mapping

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"

	"github.com/statsig-bridge/statsig-bridge/internal/segment"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// Library names the bridge in context.library.
type Library struct {
	Name    string
	Version string
}

// Mapper maps events for one destination. It is safe for concurrent use.
type Mapper struct {
	opts  mappingconfig.Options
	types map[statsig.Kind]bool
	// envs holds the environments option lower-cased; empty: all pass.
	envs map[string]bool
	// specs returns the current config specs, or nil when there are none.
	specs func() *statsig.Specs
	// contextHead is the constant start of every context object.
	contextHead []byte
}

// New returns a Mapper. specs may be nil (no config specs).
func New(opts mappingconfig.Options, specs func() *statsig.Specs, lib Library) *Mapper {
	opts = opts.WithDefaults()
	m := &Mapper{opts: opts, specs: specs, types: map[statsig.Kind]bool{}}
	for _, t := range opts.Types {
		m.types[t] = true
	}
	if len(opts.Environments) > 0 {
		m.envs = map[string]bool{}
		for _, env := range opts.Environments {
			m.envs[strings.ToLower(strings.TrimSpace(env))] = true
		}
	}
	if m.specs == nil {
		m.specs = func() *statsig.Specs { return nil }
	}
	head := []byte(`{"library":{"name":`)
	head = segment.AppendString(head, lib.Name)
	head = append(head, `,"version":`...)
	head = segment.AppendString(head, lib.Version)
	// Segment asks partner sources to name the tool they integrate.
	head = append(head, `},"integration":{"name":"statsig","version":"1.0.0"}`...)
	m.contextHead = head
	return m
}

// Options returns the effective options (defaults applied).
func (m *Mapper) Options() mappingconfig.Options { return m.opts }

// DedupeWindow is the dedupe_exposures window, 0 when off (without copying
// the options, on every event's path).
func (m *Mapper) DedupeWindow() mappingconfig.Window { return m.opts.DedupeExposures }

// Status is what mapping made of an event.
type Status int

// Mapping outcomes.
const (
	// Mapped: Result.Track is ready to send.
	Mapped Status = iota
	// Filtered: the destination does not want this event (Reason says why).
	Filtered
	// Invalid: the event cannot be sent (Reason is Segment's discard code);
	// it goes to the dead letters, never silently away.
	Invalid
)

// Result is the outcome of mapping one event.
type Result struct {
	Status Status
	// Reason explains Filtered and Invalid.
	Reason string
	// Filter is the rule that filtered the event (Filtered only).
	Filter Filter
	// Kind is the event's kind after experiment resolution.
	Kind statsig.Kind
	// Note says something the user should know about a mapped event, such
	// as an experiment that could not be resolved without config specs.
	Note  Notes
	Track segment.Track
}

// Map maps one event of a batch.
func (m *Mapper) Map(b *statsig.Batch, e *statsig.Event) Result {
	return m.mapEvent(b, e, nil)
}

// mapEvent is Map writing the properties and context into scratch's
// capacity when they fit (see MapAllInto).
func (m *Mapper) mapEvent(b *statsig.Batch, e *statsig.Event, scratch []byte) Result {
	if res, filtered := m.environmentFiltered(b, e); filtered {
		return res
	}
	name, kind := e.EventName, statsig.KindOf(e.EventName)
	metadata := e.Metadata
	var note Notes
	if kind == statsig.KindConfig || kind == statsig.KindLayer || kind == statsig.KindExperiment {
		name, kind, metadata, note = m.resolveExperiment(e, kind)
	}
	res := Result{Kind: kind, Note: note}
	if !m.types[kind] {
		res.Status, res.Filter, res.Reason = Filtered, FilterType, "event type "+string(kind)+" not selected"
		return res
	}
	if len(m.opts.Include) > 0 && !matchAny(m.opts.Include, name) {
		res.Status, res.Filter, res.Reason = Filtered, FilterName, "event name not in include list"
		return res
	}
	if matchAny(m.opts.Exclude, name) {
		res.Status, res.Filter, res.Reason = Filtered, FilterName, "event name excluded"
		return res
	}
	original, corrected := b.EventTime(e)
	t := &res.Track
	t.MessageID = e.ID
	t.Event = name
	t.UserID = m.identifier(m.opts.UserID, b, e)
	t.AnonymousID = m.identifier(m.opts.AnonymousID, b, e)
	t.Timestamp = time.UnixMilli(corrected)
	t.OriginalTimestamp = time.UnixMilli(original)
	// Properties and context share one buffer, sized to hold both.
	buf := scratch[:0]
	if size := propertiesSize(e, metadata) + m.contextSize(b, e); cap(buf) < size {
		buf = make([]byte, 0, size)
	}
	props := m.properties(buf, e, metadata)
	// Capped, so that the context appended after it cannot change it.
	t.Properties = props[:len(props):len(props)]
	t.Context = m.context(props[len(props):], b, e)
	if err := t.Validate(); err != nil {
		res.Status, res.Reason = Invalid, err.Error()
	}
	return res
}

// identifier returns the first non-empty source value.
func (m *Mapper) identifier(sources []string, b *statsig.Batch, e *statsig.Event) string {
	for _, s := range sources {
		var v string
		switch s {
		case "userID":
			if e.User != nil {
				v = string(e.User.UserID)
			}
		case "stableID":
			v = b.StableIDOf(e)
		case "email":
			if e.User != nil && e.User.Email != "" {
				v = string(e.User.Email)
				if m.opts.Email == mappingconfig.EmailHash {
					v = hashEmail(v)
				}
			}
		default:
			if name, ok := strings.CutPrefix(s, "customIDs."); ok && e.User != nil {
				v = string(e.User.CustomIDs[name])
			}
		}
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

func hashEmail(email string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
	return hex.EncodeToString(sum[:])
}

// propertiesSize is room for properties (more if secondary exposures are
// rewritten).
func propertiesSize(e *statsig.Event, metadata json.RawMessage) int {
	return 64 + len(e.Value) + len(metadata) + len(e.SecondaryExposures)
}

// contextSize is room for the context, unless strings need escapes.
func (m *Mapper) contextSize(b *statsig.Batch, e *statsig.Event) int {
	n := len(m.contextHead) + 200 + len(b.Source) + len(b.SDKType) + len(b.SDKVersion) + len(e.UnitID)
	if u := e.User; u != nil {
		n += len(u.Email) + len(u.Country) + 2*len(u.Locale) + len(u.AppVersion) + len(u.Custom) + len(u.StatsigEnvironment)
		if m.opts.IPAndUserAgent {
			n += len(u.IP) + len(u.UserAgent)
		}
	}
	return n
}

// properties appends {"value":…, "metadata":{…}} (the seed's property
// table) to the empty p.
func (m *Mapper) properties(p []byte, e *statsig.Event, metadata json.RawMessage) json.RawMessage {
	p = append(p, '{')
	if v := e.Value; len(v) > 0 && string(v) != `""` {
		p = append(p, `"value":`...)
		p = append(p, v...)
	}
	if len(metadata) > 0 {
		if len(p) > 1 {
			p = append(p, ',')
		}
		p = append(p, `"metadata":`...)
		p = append(p, metadata...)
	}
	if m.opts.SecondaryExposures && len(e.SecondaryExposures) > 2 {
		if len(p) > 1 {
			p = append(p, ',')
		}
		p = append(p, `"secondaryExposures":`...)
		p = append(p, m.secondaryExposures(e.SecondaryExposures)...)
	}
	return append(p, '}')
}

// context appends the message context to the empty c: library,
// integration, traits, and where the event came from under context.statsig.
func (m *Mapper) context(c []byte, b *statsig.Batch, e *statsig.Event) json.RawMessage {
	c = append(c, m.contextHead...)
	if u := e.User; u != nil {
		c = m.traits(c, u)
		if m.opts.IPAndUserAgent {
			if u.IP != "" {
				c = append(c, `,"ip":`...)
				c = segment.AppendString(c, string(u.IP))
			}
			if u.UserAgent != "" {
				c = append(c, `,"userAgent":`...)
				c = segment.AppendString(c, string(u.UserAgent))
			}
		}
		if u.Locale != "" {
			c = append(c, `,"locale":`...)
			c = segment.AppendString(c, string(u.Locale))
		}
	}
	c = append(c, `,"statsig":{"source":`...)
	c = segment.AppendString(c, string(b.Source))
	if b.SDKType != "" {
		c = append(c, `,"sdkType":`...)
		c = segment.AppendString(c, b.SDKType)
	}
	if b.SDKVersion != "" {
		c = append(c, `,"sdkVersion":`...)
		c = segment.AppendString(c, b.SDKVersion)
	}
	if e.UnitID != "" {
		c = append(c, `,"unitID":`...)
		c = segment.AppendString(c, e.UnitID)
	}
	if u := e.User; u != nil && len(u.StatsigEnvironment) > 0 && u.StatsigEnvironment[0] == '{' {
		c = append(c, `,"environment":`...)
		c = append(c, u.StatsigEnvironment...)
	}
	return append(c, '}', '}')
}

func (m *Mapper) traits(c []byte, u *statsig.User) []byte {
	start := len(c)
	c = append(c, `,"traits":{`...)
	open := len(c)
	field := func(k, v string) {
		if v == "" {
			return
		}
		if len(c) > open {
			c = append(c, ',')
		}
		c = segment.AppendString(c, k)
		c = append(c, ':')
		c = segment.AppendString(c, v)
	}
	switch m.opts.Email {
	case mappingconfig.EmailTrait:
		field("email", string(u.Email))
	case mappingconfig.EmailHash:
		if u.Email != "" {
			field("email_sha256", hashEmail(string(u.Email)))
		}
	}
	if m.opts.UserTraits {
		field("country", string(u.Country))
		field("locale", string(u.Locale))
		field("appVersion", string(u.AppVersion))
		if len(u.Custom) > 0 && u.Custom[0] == '{' {
			if len(c) > open {
				c = append(c, ',')
			}
			c = append(c, `"custom":`...)
			c = append(c, u.Custom...)
		}
	}
	if len(c) == open {
		return c[:start]
	}
	return append(c, '}')
}

// secondaryExposures returns the gates evaluated on the way with the
// js-client's djb2-hashed gate names resolved from the config specs.
func (m *Mapper) secondaryExposures(raw json.RawMessage) json.RawMessage {
	specs := m.specs()
	if specs == nil {
		return raw
	}
	var list []map[string]json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return raw
	}
	changed := false
	for _, x := range list {
		var gate string
		if json.Unmarshal(x["gate"], &gate) != nil {
			continue
		}
		if name := specs.Resolve(gate); name != gate {
			x["gate"] = quote(name)
			changed = true
		}
	}
	if !changed {
		return raw
	}
	out, err := json.Marshal(list)
	if err != nil {
		return raw
	}
	return out
}
