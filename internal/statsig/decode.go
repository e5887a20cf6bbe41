package statsig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Whole-request decoding errors. Each names the problem for the HTTP answer.
var (
	ErrNotJSON        = errors.New("body is not valid JSON")
	ErrNoEvents       = errors.New(`body has no "events" array`)
	ErrTooManyEvents  = errors.New("too many events in one request")
	ErrNoValidEvents  = errors.New("no valid event in the request")
	errEventNotObject = errors.New("event is not a JSON object")
)

// Rejection reasons, stable strings used in answers and metrics; Segment's
// own codes where Segment has one (its Tracking API's discard reasons).
const (
	ReasonNotObject     = "event_not_object"
	ReasonNameMissing   = "event_not_defined" // Segment's code; was event_name_missing
	ReasonNameNotString = "event_not_string"  // Segment's code; was event_name_not_string
	ReasonInvalidTime   = "invalid_time"
	ReasonInvalidField  = "invalid_field"
)

// FormerReasons maps a reason renamed to Segment's code to its former
// name. For one release the intake's metric counts such a rejection under
// both names, so alerts on the old names keep working (README, "Intake
// answers"); answers carry only the new code.
var FormerReasons = map[string]string{
	ReasonNameMissing:   "event_name_missing",
	ReasonNameNotString: "event_name_not_string",
}

// Rejection says why one event of a request was refused.
type Rejection struct {
	Index  int    `json:"index"`
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

// RequestInfo carries what an intake knows about a request besides its body.
type RequestInfo struct {
	ReceivedAt time.Time
	// ClientTime is STATSIG-CLIENT-TIME (or the js-client's t=) in Unix ms.
	ClientTime int64
	// SDKKey identifies the sender; only a one-way hash of it is kept.
	SDKKey     string
	SDKType    string
	SDKVersion string
	SessionID  string
	// MaxEvents bounds the events of one request (0 = no bound).
	MaxEvents int
}

// wireEvent is an event as any Statsig sender writes it: the SDK shape and
// the webhook's (timestamp, userID, timeUUID, unitID) in one struct.
type wireEvent struct {
	EventName          *string         `json:"eventName"`
	User               *User           `json:"user"`
	UserID             FlexString      `json:"userID"`
	Value              json.RawMessage `json:"value"`
	Metadata           json.RawMessage `json:"metadata"`
	SecondaryExposures json.RawMessage `json:"secondaryExposures"`
	StatsigMetadata    json.RawMessage `json:"statsigMetadata"`
	Time               json.RawMessage `json:"time"`
	Timestamp          json.RawMessage `json:"timestamp"`
	TimeUUID           FlexString      `json:"timeUUID"`
	UnitID             FlexString      `json:"unitID"`

	// name is eventName as the scanner reads it (named: it was a string),
	// where EventName would cost an allocation per event.
	name  string
	named bool
}

type wireRequest struct {
	Events          json.RawMessage `json:"events"`
	StatsigMetadata json.RawMessage `json:"statsigMetadata"`
	// User is the HTTP API's request-level user, for events without one.
	User *User `json:"user"`
}

type requestMetadata struct {
	SDKType    FlexString `json:"sdkType"`
	SDKVersion FlexString `json:"sdkVersion"`
	SessionID  FlexString `json:"sessionID"`
	StableID   FlexString `json:"stableID"`
}

// DecodeRequest decodes the body of an SDK event-logging request
// ({"events":[…],"statsigMetadata":{…}}, as /v1/log_event and /v1/rgstr
// receive it) into a Batch. Events that cannot be used are left out and
// reported as Rejections; the others are kept. The error is for a body that
// is unusable as a whole.
func DecodeRequest(body []byte, info RequestInfo) (*Batch, []Rejection, error) {
	body = bytes.TrimSpace(body)
	var (
		req wireRequest
		// scanned: the scanner read the events in the same pass as the
		// request, into events.
		events      []wireEvent
		scanned, ok bool
	)
	if len(body) > 0 && body[0] == '[' {
		// A bare array of events: accepted for convenience (backfill files).
		req.Events = body
	} else if events, scanned, ok = req.scanRequest(body, true, info.MaxEvents); ok {
		// The scanner read the request (and maybe its events).
	} else if err := req.decode(body); err != nil {
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) {
			return nil, nil, fmt.Errorf("%w: %s", ErrNotJSON, jsonErrText(err))
		}
		return nil, nil, fmt.Errorf("%w: field %q has the wrong type", ErrNotJSON, te.Field)
	}
	if isNull(req.Events) || req.Events[0] != '[' {
		return nil, nil, ErrNoEvents
	}
	b := &Batch{
		Source:     SourceSDK,
		ReceivedAt: info.ReceivedAt.UnixMilli(),
		ClientTime: info.ClientTime,
		KeyID:      KeyID(info.SDKKey),
		SDKType:    info.SDKType,
		SDKVersion: info.SDKVersion,
		SessionID:  info.SessionID,
	}
	req.User.compact()
	if !isNull(req.StatsigMetadata) {
		b.StatsigMetadata = compact(req.StatsigMetadata)
		var md requestMetadata
		if md.decode(req.StatsigMetadata) == nil {
			b.SDKType = firstNonEmpty(string(md.SDKType), b.SDKType)
			b.SDKVersion = firstNonEmpty(string(md.SDKVersion), b.SDKVersion)
			b.SessionID = firstNonEmpty(string(md.SessionID), b.SessionID)
			b.StableID = string(md.StableID)
		}
	}
	var (
		wire    []indexedEvent
		rejects []Rejection
		err     error
	)
	if scanned {
		wire, err = indexEvents(events, info.MaxEvents)
	} else {
		wire, rejects, err = decodeEvents(req.Events, info.MaxEvents)
	}
	if err != nil {
		return nil, nil, err
	}
	b.Events = make([]Event, 0, len(wire))
	for i := range wire {
		w := &wire[i]
		if w.ev == nil {
			continue
		}
		ev, reason, detail := w.ev.normalise()
		if reason != "" {
			rejects = append(rejects, Rejection{Index: w.index, Reason: reason, Detail: detail})
			continue
		}
		if ev.User == nil && req.User != nil {
			ev.User = req.User
		}
		b.Events = append(b.Events, ev)
	}
	sortRejections(rejects)
	b.assignIDs(body)
	// Every raw value above came from the scanner or encoding/json, which
	// validate what they hand out.
	b.rawValid = true
	return b, rejects, nil
}

type indexedEvent struct {
	index int
	ev    *wireEvent
}

// decodeEvents decodes an events array. The fast path decodes it in one go;
// if any event is malformed it falls back to decoding one event at a time so
// that a bad event costs only itself.
//
// An array that holds more than max elements is refused before anything is
// decoded: a 10 MB body of "{}," would otherwise decode into millions of
// events (gigabytes) only to be refused afterwards. Fewer than 2*max+3
// bytes cannot hold more than max elements, so small bodies skip the count.
func decodeEvents(raw json.RawMessage, max int) ([]indexedEvent, []Rejection, error) {
	if max > 0 && len(raw) >= 2*max+3 && topLevelCommas(raw, max) >= max {
		return nil, nil, fmt.Errorf("%w: more than %d events", ErrTooManyEvents, max)
	}
	var all []wireEvent
	if err := decodeWireEvents(raw, &all); err == nil {
		out, err := indexEvents(all, max)
		return out, nil, err
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, nil, fmt.Errorf("%w: %s", ErrNotJSON, jsonErrText(err))
	}
	if max > 0 && len(items) > max {
		return nil, nil, fmt.Errorf("%w: %d events, at most %d", ErrTooManyEvents, len(items), max)
	}
	out := make([]indexedEvent, 0, len(items))
	var rejects []Rejection
	for i, item := range items {
		item = bytes.TrimSpace(item)
		if len(item) == 0 || item[0] != '{' {
			rejects = append(rejects, Rejection{Index: i, Reason: ReasonNotObject, Detail: errEventNotObject.Error()})
			continue
		}
		var w wireEvent
		if err := json.Unmarshal(item, &w); err != nil {
			reason := ReasonInvalidField
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) && te.Field == "eventName" {
				reason = ReasonNameNotString
			}
			rejects = append(rejects, Rejection{Index: i, Reason: reason, Detail: jsonErrText(err)})
			continue
		}
		out = append(out, indexedEvent{index: i, ev: &w})
	}
	return out, rejects, nil
}

// topLevelCommas counts the commas between the elements of the JSON array
// raw (elements − 1), stopping at stop. It looks only at brackets, commas
// and strings, so it costs a fraction of decoding; malformed JSON is left to
// the decoder.
func topLevelCommas(raw []byte, stop int) int {
	depth, n := 0, 0
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '"':
			for { // to the closing quote, past escaped ones
				j := bytes.IndexByte(raw[i+1:], '"')
				if j < 0 {
					return n
				}
				i += j + 1
				k := i
				for raw[k-1] == '\\' {
					k--
				}
				if (i-k)%2 == 0 {
					break
				}
			}
		case '[', '{':
			depth++
		case ']', '}':
			if depth--; depth <= 0 {
				return n
			}
		case ',':
			if depth == 1 {
				if n++; n >= stop {
					return n
				}
			}
		}
	}
	return n
}

// indexEvents numbers events decoded in one go, refusing more than max.
func indexEvents(all []wireEvent, max int) ([]indexedEvent, error) {
	if max > 0 && len(all) > max {
		return nil, fmt.Errorf("%w: %d events, at most %d", ErrTooManyEvents, len(all), max)
	}
	out := make([]indexedEvent, len(all))
	for i := range all {
		out[i] = indexedEvent{index: i, ev: &all[i]}
	}
	return out, nil
}

// normalise turns a decoded wire event into an Event, or names why it can't.
func (w *wireEvent) normalise() (Event, string, string) {
	name := w.name
	if !w.named {
		if w.EventName == nil {
			return Event{}, ReasonNameMissing, `"eventName" is missing`
		}
		name = *w.EventName
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return Event{}, ReasonNameMissing, `"eventName" is empty`
	}
	ev := Event{
		EventName:          name,
		User:               w.User,
		TimeUUID:           string(w.TimeUUID),
		UnitID:             string(w.UnitID),
		Value:              compact(nonNull(w.Value)),
		Metadata:           compact(nonNull(w.Metadata)),
		SecondaryExposures: compact(nonNull(w.SecondaryExposures)),
		StatsigMetadata:    compact(nonNull(w.StatsigMetadata)),
	}
	ev.User.compact()
	if ev.User == nil && w.UserID != "" {
		ev.User = &User{UserID: w.UserID}
	} else if ev.User != nil && ev.User.UserID == "" && w.UserID != "" {
		// A copy: events may share a User (scanner.sharedUser).
		u := *ev.User
		u.UserID = w.UserID
		ev.User = &u
	}
	if ev.User != nil && ev.User.isEmpty() {
		ev.User = nil
	}
	t := w.Time
	if isNull(t) {
		t = w.Timestamp
	}
	if !isNull(t) {
		ms, err := parseTime(t)
		if err != nil {
			return Event{}, ReasonInvalidTime, err.Error()
		}
		ev.Time = ms
	}
	return ev, "", ""
}

func (u *User) isEmpty() bool {
	return u.UserID == "" && u.Email == "" && u.IP == "" && u.UserAgent == "" && u.Country == "" &&
		u.Locale == "" && u.AppVersion == "" && isNull(u.Custom) && len(u.CustomIDs) == 0 && isNull(u.StatsigEnvironment)
}

// maxTimeMs is the latest event time accepted, as a number or as RFC 3339
// (Unix ms, about the year 33658): anything later is garbage, not a time.
const maxTimeMs = 1e15

// parseTime reads an event time: Unix ms as a number or a string of digits,
// or an ISO-8601 / RFC 3339 string (Statsig's HTTP API allows both).
func parseTime(raw json.RawMessage) (int64, error) {
	if ms, ok := parseMillis(raw); ok {
		return ms, nil
	}
	s := string(bytes.TrimSpace(raw))
	if len(s) > 0 && s[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, fmt.Errorf("time: %s", jsonErrText(err))
		}
		s = strings.TrimSpace(s)
		if s == "" {
			return 0, nil
		}
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			// The bounds of a number's time, so that no time is negative
			// ("0000-01-01T00:00:00Z" was -62167219200000).
			if ms := t.UnixMilli(); ms >= 0 && ms <= maxTimeMs {
				return ms, nil
			}
			return 0, fmt.Errorf("time %s is before 1970 or past the year 33658", truncate(s, 40))
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > maxTimeMs {
		return 0, fmt.Errorf("time %s is neither Unix milliseconds nor an RFC 3339 time", truncate(s, 40))
	}
	return int64(f), nil
}

// parseMillis is parseTime for the times every SDK sends, Unix ms as an
// integer literal of at most 15 digits: such a number is below maxTimeMs
// and exact as a float64, so it is what ParseFloat and the conversion give,
// without the string parseTime makes of every time.
func parseMillis(raw []byte) (int64, bool) {
	if len(raw) == 0 || len(raw) > 15 || raw[0] == '-' {
		return 0, false
	}
	return parseInt(raw)
}

// compact strips the whitespace of pretty-printed JSON, which would
// otherwise travel verbatim into the log and every Segment message (newlines
// inside properties, bytes counted against the 32 KB limit). A raw newline,
// tab or CR can only be whitespace between tokens, because JSON strings must
// escape them, so compact input costs three vectorised byte searches and
// no allocation.
func compact(raw json.RawMessage) json.RawMessage {
	if bytes.IndexByte(raw, '\n') < 0 && bytes.IndexByte(raw, '\r') < 0 && bytes.IndexByte(raw, '\t') < 0 {
		return raw
	}
	var buf bytes.Buffer
	buf.Grow(len(raw))
	if json.Compact(&buf, raw) != nil {
		return raw
	}
	return buf.Bytes()
}

// compact strips pretty-printing from the user's raw JSON fields.
func (u *User) compact() {
	if u == nil {
		return
	}
	u.Custom = compact(u.Custom)
	u.StatsigEnvironment = compact(u.StatsigEnvironment)
}

func nonNull(b json.RawMessage) json.RawMessage {
	if isNull(b) {
		return nil
	}
	return b
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// jsonErrText shortens encoding/json's messages, which name Go types.
func jsonErrText(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return fmt.Sprintf("field %q: unexpected JSON %s", te.Field, te.Value)
		}
		return "unexpected JSON " + te.Value
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if strings.HasSuffix(msg, "exceeded max depth") {
		// encoding/json says "invalid character '[' exceeded max depth",
		// which reads like a syntax error.
		return fmt.Sprintf("nested deeper than %d levels", maxDepth)
	}
	return msg
}

func sortRejections(r []Rejection) {
	for i := 1; i < len(r); i++ {
		for j := i; j > 0 && r[j].Index < r[j-1].Index; j-- {
			r[j], r[j-1] = r[j-1], r[j]
		}
	}
}
