package statsigtee

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"

	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// Encoder re-serialises the log's events as a Statsig SDK sends them. It
// forwards every event as sent: SDK-internal events included (Statsig
// receives them from the SDKs too) and experiments not renamed (Statsig
// wants statsig::config_exposure, as the SDK logged it).
type Encoder struct {
	types            map[statsig.Kind]bool
	include, exclude []string
	// envs is the environments option, lower-cased; nil: all pass.
	envs map[string]bool
}

var _ destination.Encoder = (*Encoder)(nil)

// NewEncoder returns an Encoder with a destination's filter. Only the
// filter of the options applies, and only what is set: no types means every
// type (not mappingconfig.DefaultTypes, which leaves out SDK-internal events).
// Types are read from the event name as sent, so an experiment exposure is
// a config_exposure here; include and exclude globs match that name too.
func NewEncoder(opts mappingconfig.Options) *Encoder {
	e := &Encoder{include: opts.Include, exclude: opts.Exclude}
	for _, env := range opts.Environments {
		if e.envs == nil {
			e.envs = map[string]bool{}
		}
		e.envs[strings.ToLower(strings.TrimSpace(env))] = true
	}
	if len(opts.Types) > 0 {
		e.types = map[statsig.Kind]bool{}
		for _, k := range opts.Types {
			e.types[k] = true
		}
	}
	return e
}

// Encode implements destination.Encoder.
func (enc *Encoder) Encode(b *statsig.Batch, e *statsig.Event) destination.Encoded {
	kind := statsig.KindOf(e.EventName)
	out := destination.Encoded{Kind: kind, Event: e.EventName}
	switch {
	case b.Source == statsig.SourceWebhook:
		// Statsig sent it: forwarding it back would count it twice.
		out.Filtered, out.Filter, out.Reason = true, mapping.FilterSource, "received from Statsig's webhook"
		return out
	case b.Source == statsig.SourceImport:
		// History loaded by `statsig-bridge import`: Statsig has it already.
		out.Filtered, out.Filter, out.Reason = true, mapping.FilterSource, "imported history"
		return out
	case enc.types != nil && !enc.types[kind]:
		out.Filtered, out.Filter, out.Reason = true, mapping.FilterType, "event type "+string(kind)+" not selected"
		return out
	case len(enc.include) > 0 && !mapping.MatchAny(enc.include, e.EventName):
		out.Filtered, out.Filter, out.Reason = true, mapping.FilterName, "event name not in include list"
		return out
	case mapping.MatchAny(enc.exclude, e.EventName):
		out.Filtered, out.Filter, out.Reason = true, mapping.FilterName, "event name excluded"
		return out
	case enc.envs != nil && !enc.envs[mapping.Tier(b, e)]:
		out.Filtered, out.Filter, out.Reason = true, mapping.FilterEnvironment, "environment: tier "+mapping.Tier(b, e)+" not in environments"
		return out
	}
	p, err := AppendEvent(nil, b, e)
	if err != nil {
		out.Invalid, out.Reason = true, "unencodable_event: "+err.Error()
		return out
	}
	out.Payload = p
	if len(p) > MaxEventBytes {
		out.Invalid = true
		out.Reason = "message_too_big: " + strconv.Itoa(len(p)) + " bytes, limit " + strconv.Itoa(MaxEventBytes)
	}
	return out
}

// wireEvent is an event as the SDKs send it to log_event (formats §3.2).
type wireEvent struct {
	EventName string        `json:"eventName"`
	User      *statsig.User `json:"user"`
	// Value, Metadata, SecondaryExposures and StatsigMetadata are the raw
	// JSON the SDK sent; the log keeps null as absent, and so does this.
	Value              json.RawMessage `json:"value,omitempty"`
	Metadata           json.RawMessage `json:"metadata,omitempty"`
	SecondaryExposures json.RawMessage `json:"secondaryExposures,omitempty"`
	Time               int64           `json:"time"`
	StatsigMetadata    json.RawMessage `json:"statsigMetadata,omitempty"`
}

// AppendEvent appends e as a Statsig SDK event object.
//
//   - time is the time the SDK gave the event; an event sent without one
//     (Go's LogImmediate sends 0) gets the request's client time, as the
//     bridge recorded it, or else its arrival time (statsig.Batch.EventTime).
//     Statsig corrects clock skew by STATSIG-CLIENT-TIME, which is now the
//     bridge's clock: a device's skew is not corrected again.
//   - user is the user as stored (privateAttributes never reach the log), or
//     null. A js-client sends its stableID once per request, not per event;
//     events of many requests share one outgoing request, so the request's
//     stableID goes into user.customIDs.stableID when the user has none.
func AppendEvent(dst []byte, b *statsig.Batch, e *statsig.Event) ([]byte, error) {
	original, _ := b.EventTime(e)
	w := wireEvent{
		EventName:          e.EventName,
		User:               e.User,
		Value:              e.Value,
		Metadata:           e.Metadata,
		SecondaryExposures: e.SecondaryExposures,
		Time:               original,
		StatsigMetadata:    e.StatsigMetadata,
	}
	if id := b.StableIDOf(e); id != "" && e.User.StableID() == "" {
		u := statsig.User{}
		if e.User != nil {
			u = *e.User
		}
		ids := make(map[string]statsig.FlexString, len(u.CustomIDs)+1)
		for k, v := range u.CustomIDs {
			ids[k] = v
		}
		ids["stableID"] = statsig.FlexString(id)
		u.CustomIDs = ids
		w.User = &u
	}
	p, err := json.Marshal(&w)
	if err != nil {
		return dst, err
	}
	return append(dst, p...), nil
}
