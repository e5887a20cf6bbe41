package statsig

import (
	"encoding/json"
	"strings"
)

// Exposure event names as the SDKs and Statsig's webhook send them.
const (
	GateExposure       = "statsig::gate_exposure"
	ConfigExposure     = "statsig::config_exposure"
	ExperimentExposure = "statsig::experiment_exposure"
	LayerExposure      = "statsig::layer_exposure"
	ConfigChange       = "statsig::config_change"
)

// Kind classifies an event for filtering.
type Kind string

// The kinds of events a destination can filter on.
const (
	KindGate         Kind = "gate_exposure"
	KindConfig       Kind = "config_exposure"
	KindExperiment   Kind = "experiment_exposure"
	KindLayer        Kind = "layer_exposure"
	KindCustom       Kind = "custom"
	KindConfigChange Kind = "config_change"
	// KindInternal is an SDK's own bookkeeping (diagnostics, non-exposed
	// checks, …): not a user event, dropped unless a destination asks for it.
	KindInternal Kind = "internal"
)

// Kinds lists every Kind, in the order the docs present them.
var Kinds = []Kind{KindGate, KindConfig, KindExperiment, KindLayer, KindCustom, KindConfigChange, KindInternal}

// KindOf classifies an event name. Experiments cannot be told from configs by
// name (every SDK logs them as config exposures); that takes the config specs.
func KindOf(name string) Kind {
	switch name {
	case GateExposure:
		return KindGate
	case ConfigExposure:
		return KindConfig
	case ExperimentExposure:
		return KindExperiment
	case LayerExposure:
		return KindLayer
	case ConfigChange:
		return KindConfigChange
	}
	if strings.HasPrefix(name, "statsig::") {
		return KindInternal
	}
	return KindCustom
}

// Event is one Statsig event as the log stores it: the fields the SDKs send,
// normalised (user decoded, privateAttributes gone, time in milliseconds),
// with values that the bridge passes through kept as raw JSON.
type Event struct {
	// ID is the bridge's deterministic identity of the event (see EventID):
	// the same event resent by an SDK gets the same ID, which becomes the
	// Segment messageId.
	ID        string `json:"id"`
	EventName string `json:"eventName"`
	User      *User  `json:"user,omitempty"`
	// Value is a JSON string, number or null, exactly as sent.
	Value json.RawMessage `json:"value,omitempty"`
	// Metadata is a JSON object (exposure metadata or custom metadata).
	Metadata           json.RawMessage `json:"metadata,omitempty"`
	SecondaryExposures json.RawMessage `json:"secondaryExposures,omitempty"`
	// StatsigMetadata is the event's own statsigMetadata (sampling info,
	// js-client currentPage, webhook stableID).
	StatsigMetadata json.RawMessage `json:"statsigMetadata,omitempty"`
	// Time is the event time in Unix milliseconds as the client sent it; 0
	// when the client sent none (Go's LogImmediate sends 0).
	Time int64 `json:"time,omitempty"`
	// TimeUUID is the webhook's per-event version-1 UUID.
	TimeUUID string `json:"timeUUID,omitempty"`
	// UnitID is the webhook's unit ID type ("userID", "stableID", …).
	UnitID string `json:"unitID,omitempty"`
}

// User is a Statsig user. privateAttributes has no field on purpose: private
// attributes never enter the log and so can never leave the bridge.
type User struct {
	UserID             FlexString            `json:"userID,omitempty"`
	Email              FlexString            `json:"email,omitempty"`
	IP                 FlexString            `json:"ip,omitempty"`
	UserAgent          FlexString            `json:"userAgent,omitempty"`
	Country            FlexString            `json:"country,omitempty"`
	Locale             FlexString            `json:"locale,omitempty"`
	AppVersion         FlexString            `json:"appVersion,omitempty"`
	Custom             json.RawMessage       `json:"custom,omitempty"`
	CustomIDs          map[string]FlexString `json:"customIDs,omitempty"`
	StatsigEnvironment json.RawMessage       `json:"statsigEnvironment,omitempty"`
}

// StableID returns the user's stableID (customIDs.stableID), if any.
func (u *User) StableID() string {
	if u == nil {
		return ""
	}
	return string(u.CustomIDs["stableID"])
}

// Batch is what one intake request becomes in the durable log: the events
// plus the request-level facts every event needs (when it arrived, the
// client's clock, which SDK sent it).
type Batch struct {
	// ID is deterministic for the request's content, so a byte-identical SDK
	// retry is deduplicated by the log itself.
	ID     string `json:"id"`
	Source Source `json:"source"`
	// ReceivedAt is the bridge's clock when the request arrived (Unix ms).
	ReceivedAt int64 `json:"receivedAt"`
	// ClientTime is the client's clock when it sent the request (Unix ms,
	// from STATSIG-CLIENT-TIME or the js-client's t=); 0 if unknown.
	ClientTime int64 `json:"clientTime,omitempty"`
	// KeyID is a short one-way hash of the SDK key, never the key itself.
	KeyID      string `json:"keyId,omitempty"`
	SDKType    string `json:"sdkType,omitempty"`
	SDKVersion string `json:"sdkVersion,omitempty"`
	SessionID  string `json:"sessionId,omitempty"`
	// StableID is the js-client's request-level stableID: it applies to every
	// event that has none of its own.
	StableID string `json:"stableId,omitempty"`
	// StatsigMetadata is the request-level statsigMetadata, as sent.
	StatsigMetadata json.RawMessage `json:"statsigMetadata,omitempty"`
	Events          []Event         `json:"events"`

	// rawValid says every raw JSON value in the batch was checked by a JSON
	// decoder (DecodeRequest sets it), so AppendBinary need not check them
	// again. Nothing outside this package sets a raw value of a Batch.
	rawValid bool
}

// Source says how a batch entered the bridge.
type Source string

// The intakes.
const (
	SourceSDK     Source = "sdk"
	SourceWebhook Source = "webhook"
	SourceImport  Source = "import"
)

// EventTime returns the event's original time and its clock-skew corrected
// time, both in Unix ms. Client SDK clocks can be off: like Segment, the
// bridge corrects by the difference between the client's clock when it sent
// the request and the bridge's clock when it arrived:
//
//	corrected = receivedAt − (clientTime − eventTime)
//
// An event without a time (0) takes the client time of the request, or else
// the arrival time.
func (b *Batch) EventTime(e *Event) (original, corrected int64) {
	original = e.Time
	if original <= 0 {
		original = b.ClientTime
		if original <= 0 {
			return b.ReceivedAt, b.ReceivedAt
		}
	}
	if b.ClientTime <= 0 || b.ReceivedAt <= 0 {
		return original, original
	}
	return original, b.ReceivedAt - (b.ClientTime - original)
}

// StableIDOf returns the stableID that applies to e: the user's own, else the
// event's statsigMetadata.stableID (webhook), else the request's (js-client).
func (b *Batch) StableIDOf(e *Event) string {
	if id := e.User.StableID(); id != "" {
		return id
	}
	if len(e.StatsigMetadata) > 2 && strings.Contains(string(e.StatsigMetadata), `"stableID"`) {
		var m struct {
			StableID FlexString `json:"stableID"`
		}
		if json.Unmarshal(e.StatsigMetadata, &m) == nil && m.StableID != "" {
			return string(m.StableID)
		}
	}
	return b.StableID
}
