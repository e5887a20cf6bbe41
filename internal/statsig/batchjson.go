package statsig

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Fast JSON for the two documents every event passes through: the SDK
// request at intake (wireRequest, wireEvent, User) and the Batch as JSON
// (the log's stored form before the binary encoding, and the form it is
// shown in). Each decoder tries the scanner first and falls back to
// encoding/json for anything the scanner declines, so results and errors
// are encoding/json's; AppendJSON writes exactly the bytes json.Marshal
// would. batchjson_test.go holds them to that on fixtures and fuzzed input.
//
// Decoded values share memory with the input: the caller must not modify
// the input afterwards.

// Field names, for the case-insensitive matching check (scanner.unknown).
var (
	requestFields  = []string{"events", "statsigMetadata", "user"}
	metadataFields = []string{"sdkType", "sdkVersion", "sessionID", "stableID"}
	userFields     = []string{"userID", "email", "ip", "userAgent", "country", "locale", "appVersion", "custom", "customIDs", "statsigEnvironment"}
	wireEventField = []string{"eventName", "user", "userID", "value", "metadata", "secondaryExposures", "statsigMetadata", "time", "timestamp", "timeUUID", "unitID"}
	batchFields    = []string{"id", "source", "receivedAt", "clientTime", "keyId", "sdkType", "sdkVersion", "sessionId", "stableId", "statsigMetadata", "events"}
	eventFields    = []string{"id", "eventName", "user", "value", "metadata", "secondaryExposures", "statsigMetadata", "time", "timeUUID", "unitID"}
)

// decode decodes an SDK request body (an object).
func (r *wireRequest) decode(body []byte) error {
	if r.scan(body) {
		return nil
	}
	*r = wireRequest{}
	return json.Unmarshal(body, r)
}

func (r *wireRequest) scan(body []byte) bool {
	_, _, ok := r.scanRequest(body, false, 0)
	return ok
}

// scanRequest is scan; withEvents also reads the events array in the same
// pass when the scanner can and it holds at most max events (max > 0), as
// scanned, with the result scanWireEvents would give on r.Events.
func (r *wireRequest) scanRequest(body []byte, withEvents bool, max int) (events []wireEvent, scanned, ok bool) {
	s := scanner{data: body, text: unsafeString(body)}
	var out wireRequest
	var seen uint32
	ok = s.members(func(name []byte) bool {
		var ok bool
		switch string(name) {
		case "events":
			if withEvents {
				out.Events, events, scanned, ok = s.requestEvents(max)
			} else {
				out.Events, ok = s.value()
			}
			return ok && once(&seen, 1<<0)
		case "statsigMetadata":
			out.StatsigMetadata, ok = s.value()
			return ok && once(&seen, 1<<1)
		case "user":
			out.User, ok = s.user()
			return ok && once(&seen, 1<<2)
		}
		return s.unknown(name, requestFields)
	})
	if !ok || !s.atEnd() {
		return nil, false, false
	}
	*r = out
	return events, scanned, true
}

// requestEvents reads a request's events member: its raw value and, when
// it is an array of at most max (if max > 0) events the scanner can read,
// its events, read in the same pass (with the results of scanWireEvents on
// the raw value). Otherwise it only skips the value, as value does, and
// decodeEvents decides, refusals of too many events included.
func (s *scanner) requestEvents(max int) (raw []byte, events []wireEvent, scanned, ok bool) {
	if s.peek() == '[' {
		start, depth := s.pos, s.depth
		if evs, ok := s.wireEventArray(max); ok {
			return s.data[start:s.pos], evs, true, true
		}
		s.pos, s.depth = start, depth
	}
	raw, ok = s.value()
	return raw, nil, false, ok
}

// wireEventArray reads the array of events that is next, counting its
// nesting as skipContainer does; it fails after max events (if max > 0).
func (s *scanner) wireEventArray(max int) ([]wireEvent, bool) {
	s.depth++
	if s.depth > maxDepth {
		return nil, false
	}
	s.pos++ // '['
	n := (len(s.data)-s.pos)/512 + 1
	if max > 0 {
		n = min(n, max)
	}
	out := make([]wireEvent, 0, n)
	if s.consume(']') {
		s.depth--
		return out, true
	}
	for {
		if max > 0 && len(out) == max {
			return nil, false
		}
		out = append(out, wireEvent{})
		if !s.wireEvent(&out[len(out)-1]) {
			return nil, false
		}
		if s.consume(']') {
			s.depth--
			return out, true
		}
		if !s.consume(',') {
			return nil, false
		}
	}
}

// decode decodes a request's statsigMetadata.
func (m *requestMetadata) decode(raw []byte) error {
	if m.scan(raw) {
		return nil
	}
	*m = requestMetadata{}
	return json.Unmarshal(raw, m)
}

func (m *requestMetadata) scan(raw []byte) bool {
	s := scanner{data: raw}
	var out requestMetadata
	var seen uint32
	ok := s.members(func(name []byte) bool {
		var dst *FlexString
		var bit uint32
		switch string(name) {
		case "sdkType":
			dst, bit = &out.SDKType, 1<<0
		case "sdkVersion":
			dst, bit = &out.SDKVersion, 1<<1
		case "sessionID":
			dst, bit = &out.SessionID, 1<<2
		case "stableID":
			dst, bit = &out.StableID, 1<<3
		default:
			return s.unknown(name, metadataFields)
		}
		var ok bool
		*dst, ok = s.flexString()
		return ok && once(&seen, bit)
	})
	if !ok || !s.atEnd() {
		return false
	}
	*m = out
	return true
}

// decodeWireEvents decodes a request's events array.
func decodeWireEvents(raw []byte, all *[]wireEvent) error {
	if evs, ok := scanWireEvents(raw); ok {
		*all = evs
		return nil
	}
	*all = nil
	return json.Unmarshal(raw, all)
}

func scanWireEvents(raw []byte) ([]wireEvent, bool) {
	s := scanner{data: raw, text: unsafeString(raw)}
	if !s.consume('[') {
		return nil, false
	}
	out := make([]wireEvent, 0, len(raw)/512+1)
	if s.consume(']') {
		return out, s.atEnd()
	}
	for {
		out = append(out, wireEvent{})
		if !s.wireEvent(&out[len(out)-1]) {
			return nil, false
		}
		if s.consume(']') {
			return out, s.atEnd()
		}
		if !s.consume(',') {
			return nil, false
		}
	}
}

func (s *scanner) wireEvent(w *wireEvent) bool {
	var seen uint32
	return s.members(func(name []byte) bool {
		var ok bool
		var bit uint32
		switch string(name) {
		case "eventName":
			bit = 1 << 0
			switch s.peek() {
			case 'n':
				w.EventName, w.name, w.named, ok = nil, "", false, s.literal("null")
			case '"':
				w.EventName = nil
				w.name, ok = s.stringValue()
				w.named = true
			}
		case "user":
			bit = 1 << 1
			w.User, ok = s.sharedUser()
		case "userID":
			bit = 1 << 2
			w.UserID, ok = s.flexString()
		case "value":
			bit = 1 << 3
			w.Value, ok = s.value()
		case "metadata":
			bit = 1 << 4
			w.Metadata, ok = s.value()
		case "secondaryExposures":
			bit = 1 << 5
			w.SecondaryExposures, ok = s.value()
		case "statsigMetadata":
			bit = 1 << 6
			w.StatsigMetadata, ok = s.value()
		case "time":
			bit = 1 << 7
			w.Time, ok = s.value()
		case "timestamp":
			bit = 1 << 8
			w.Timestamp, ok = s.value()
		case "timeUUID":
			bit = 1 << 9
			w.TimeUUID, ok = s.flexString()
		case "unitID":
			bit = 1 << 10
			w.UnitID, ok = s.flexString()
		default:
			return s.unknown(name, wireEventField)
		}
		return ok && once(&seen, bit)
	})
}

// user reads a *User: null or an object.
func (s *scanner) user() (*User, bool) {
	switch s.peek() {
	case 'n':
		return nil, s.literal("null")
	case '{':
	default:
		return nil, false
	}
	u := &User{}
	var seen uint32
	ok := s.members(func(name []byte) bool {
		var ok bool
		var bit uint32
		var dst *FlexString
		switch string(name) {
		case "userID":
			dst, bit = &u.UserID, 1<<0
		case "email":
			dst, bit = &u.Email, 1<<1
		case "ip":
			dst, bit = &u.IP, 1<<2
		case "userAgent":
			dst, bit = &u.UserAgent, 1<<3
		case "country":
			dst, bit = &u.Country, 1<<4
		case "locale":
			dst, bit = &u.Locale, 1<<5
		case "appVersion":
			dst, bit = &u.AppVersion, 1<<6
		case "custom":
			bit = 1 << 7
			u.Custom, ok = s.value()
		case "customIDs":
			bit = 1 << 8
			u.CustomIDs, ok = s.flexMap()
		case "statsigEnvironment":
			bit = 1 << 9
			u.StatsigEnvironment, ok = s.value()
		default:
			return s.unknown(name, userFields)
		}
		if dst != nil {
			*dst, ok = s.flexString()
		}
		return ok && once(&seen, bit)
	})
	return u, ok
}

// sharedUser is user for the events of one request, which mostly share
// their user: all of a js-client's events, runs of a server SDK's (the
// exposures of one user's request). A user written byte for byte as the
// previous one is the previous *User, so its User, its customIDs map and
// the scan of it come once per run instead of once per event. Equal bytes
// decode equally (an object ends where its bytes say), at the same depth:
// the events are elements of one array. Nothing writes to a decoded User
// (normalise copies one before it sets its userID).
func (s *scanner) sharedUser() (*User, bool) {
	s.skipSpace()
	last := s.lastUser
	if last.user != nil && bytes.HasPrefix(s.data[s.pos:], last.raw) {
		s.pos += len(last.raw)
		return last.user, true
	}
	start := s.pos
	u, ok := s.user()
	if ok && u != nil {
		s.lastUser = sharedUser{raw: s.data[start:s.pos], user: u}
	}
	return u, ok
}

// flexMap reads a map[string]FlexString: null or an object.
func (s *scanner) flexMap() (map[string]FlexString, bool) {
	switch s.peek() {
	case 'n':
		return nil, s.literal("null")
	case '{':
	default:
		return nil, false
	}
	m := map[string]FlexString{}
	ok := s.members(func(name []byte) bool {
		v, ok := s.flexString()
		m[s.substring(name)] = v
		return ok
	})
	return m, ok
}

// substring returns b, a slice of s.data, as a string: a substring of
// s.text when there is one.
func (s *scanner) substring(b []byte) string {
	if s.text != "" && len(b) > 0 {
		off := cap(s.data) - cap(b)
		return s.text[off : off+len(b)]
	}
	return string(b)
}

// DecodeBatch decodes a Batch as the log stores it: in the binary encoding
// (see Batch.AppendBinary) or as JSON (Batch.AppendJSON), which bridges
// before the binary encoding stored. The Batch shares memory with data.
func DecodeBatch(data []byte) (*Batch, error) {
	if IsBinaryBatch(data) {
		return decodeBinaryBatch(data)
	}
	b := &Batch{}
	if b.scan(data) {
		return b, nil
	}
	*b = Batch{}
	if err := json.Unmarshal(data, b); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *Batch) scan(data []byte) bool {
	s := scanner{data: data, text: unsafeString(data)}
	var seen uint32
	ok := s.members(func(name []byte) bool {
		var ok bool
		var bit uint32
		var dst *string
		switch string(name) {
		case "id":
			dst, bit = &b.ID, 1<<0
		case "source":
			bit = 1 << 1
			var v string
			v, ok = s.plainString()
			b.Source = Source(v)
		case "receivedAt":
			bit = 1 << 2
			b.ReceivedAt, ok = s.int64Value()
		case "clientTime":
			bit = 1 << 3
			b.ClientTime, ok = s.int64Value()
		case "keyId":
			dst, bit = &b.KeyID, 1<<4
		case "sdkType":
			dst, bit = &b.SDKType, 1<<5
		case "sdkVersion":
			dst, bit = &b.SDKVersion, 1<<6
		case "sessionId":
			dst, bit = &b.SessionID, 1<<7
		case "stableId":
			dst, bit = &b.StableID, 1<<8
		case "statsigMetadata":
			bit = 1 << 9
			b.StatsigMetadata, ok = s.value()
		case "events":
			bit = 1 << 10
			b.Events, ok = s.events()
		default:
			return s.unknown(name, batchFields)
		}
		if dst != nil {
			*dst, ok = s.plainString()
		}
		return ok && once(&seen, bit)
	})
	return ok && s.atEnd()
}

// plainString reads a value into a string field: a string, or null, which
// leaves the field empty.
func (s *scanner) plainString() (string, bool) {
	switch s.peek() {
	case '"':
		return s.stringValue()
	case 'n':
		return "", s.literal("null")
	}
	return "", false
}

func (s *scanner) events() ([]Event, bool) {
	switch s.peek() {
	case 'n':
		return nil, s.literal("null")
	case '[':
	default:
		return nil, false
	}
	s.pos++
	out := make([]Event, 0, (len(s.data)-s.pos)/512+1)
	if s.consume(']') {
		return out, true
	}
	for {
		out = append(out, Event{})
		if !s.event(&out[len(out)-1]) {
			return nil, false
		}
		if s.consume(']') {
			return out, true
		}
		if !s.consume(',') {
			return nil, false
		}
	}
}

func (s *scanner) event(e *Event) bool {
	var seen uint32
	return s.members(func(name []byte) bool {
		var ok bool
		var bit uint32
		var dst *string
		switch string(name) {
		case "id":
			dst, bit = &e.ID, 1<<0
		case "eventName":
			dst, bit = &e.EventName, 1<<1
		case "user":
			bit = 1 << 2
			e.User, ok = s.user()
		case "value":
			bit = 1 << 3
			e.Value, ok = s.value()
		case "metadata":
			bit = 1 << 4
			e.Metadata, ok = s.value()
		case "secondaryExposures":
			bit = 1 << 5
			e.SecondaryExposures, ok = s.value()
		case "statsigMetadata":
			bit = 1 << 6
			e.StatsigMetadata, ok = s.value()
		case "time":
			bit = 1 << 7
			e.Time, ok = s.int64Value()
		case "timeUUID":
			dst, bit = &e.TimeUUID, 1<<8
		case "unitID":
			dst, bit = &e.UnitID, 1<<9
		default:
			return s.unknown(name, eventFields)
		}
		if dst != nil {
			*dst, ok = s.plainString()
		}
		return ok && once(&seen, bit)
	})
}

// AppendJSON appends the batch as JSON, the form it is shown in (and the
// log's stored form before AppendBinary): exactly the bytes of
// json.Marshal(b), written without reflection.
func (b *Batch) AppendJSON(dst []byte) ([]byte, error) {
	start := len(dst)
	dst = append(dst, `{"id":`...)
	dst = appendJSONString(dst, b.ID)
	dst = append(dst, `,"source":`...)
	dst = appendJSONString(dst, string(b.Source))
	dst = append(dst, `,"receivedAt":`...)
	dst = strconv.AppendInt(dst, b.ReceivedAt, 10)
	if b.ClientTime != 0 {
		dst = append(dst, `,"clientTime":`...)
		dst = strconv.AppendInt(dst, b.ClientTime, 10)
	}
	dst = appendStringField(dst, `,"keyId":`, b.KeyID)
	dst = appendStringField(dst, `,"sdkType":`, b.SDKType)
	dst = appendStringField(dst, `,"sdkVersion":`, b.SDKVersion)
	dst = appendStringField(dst, `,"sessionId":`, b.SessionID)
	dst = appendStringField(dst, `,"stableId":`, b.StableID)
	var err error
	if dst, err = appendRawField(dst, `,"statsigMetadata":`, b.StatsigMetadata); err != nil {
		return dst[:start], err
	}
	dst = append(dst, `,"events":`...)
	if b.Events == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i := range b.Events {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = b.Events[i].appendJSON(dst); err != nil {
				return dst[:start], err
			}
		}
		dst = append(dst, ']')
	}
	return append(dst, '}'), nil
}

func (e *Event) appendJSON(dst []byte) ([]byte, error) {
	dst = append(dst, `{"id":`...)
	dst = appendJSONString(dst, e.ID)
	dst = append(dst, `,"eventName":`...)
	dst = appendJSONString(dst, e.EventName)
	var err error
	if e.User != nil {
		dst = append(dst, `,"user":`...)
		if dst, err = e.User.appendJSON(dst); err != nil {
			return dst, err
		}
	}
	for _, f := range [...]struct {
		key string
		raw json.RawMessage
	}{
		{`,"value":`, e.Value},
		{`,"metadata":`, e.Metadata},
		{`,"secondaryExposures":`, e.SecondaryExposures},
		{`,"statsigMetadata":`, e.StatsigMetadata},
	} {
		if dst, err = appendRawField(dst, f.key, f.raw); err != nil {
			return dst, err
		}
	}
	if e.Time != 0 {
		dst = append(dst, `,"time":`...)
		dst = strconv.AppendInt(dst, e.Time, 10)
	}
	dst = appendStringField(dst, `,"timeUUID":`, e.TimeUUID)
	dst = appendStringField(dst, `,"unitID":`, e.UnitID)
	return append(dst, '}'), nil
}

func (u *User) appendJSON(dst []byte) ([]byte, error) {
	open := len(dst)
	dst = append(dst, '{')
	comma := func(dst []byte, key string) []byte {
		if len(dst) > open+1 {
			dst = append(dst, ',')
		}
		return append(dst, key...)
	}
	for _, f := range [...]struct {
		key string
		v   FlexString
	}{
		{`"userID":`, u.UserID}, {`"email":`, u.Email}, {`"ip":`, u.IP}, {`"userAgent":`, u.UserAgent},
		{`"country":`, u.Country}, {`"locale":`, u.Locale}, {`"appVersion":`, u.AppVersion},
	} {
		if f.v != "" {
			dst = appendJSONString(comma(dst, f.key), string(f.v))
		}
	}
	var err error
	if len(u.Custom) > 0 {
		if dst, err = appendRaw(comma(dst, `"custom":`), u.Custom); err != nil {
			return dst, err
		}
	}
	if len(u.CustomIDs) > 0 {
		dst = append(comma(dst, `"customIDs":`), '{')
		for i, k := range sortedKeys(u.CustomIDs) {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, k)
			dst = append(dst, ':')
			dst = appendJSONString(dst, string(u.CustomIDs[k]))
		}
		dst = append(dst, '}')
	}
	if len(u.StatsigEnvironment) > 0 {
		if dst, err = appendRaw(comma(dst, `"statsigEnvironment":`), u.StatsigEnvironment); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

// sortedKeys returns a small map's keys in order, as json.Marshal writes them.
func sortedKeys(m map[string]FlexString) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	insertionSort(keys)
	return keys
}

// insertionSort sorts a few strings without the allocation of a sort call.
func insertionSort(keys []string) {
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
}

func appendStringField(dst []byte, key, v string) []byte {
	if v == "" {
		return dst
	}
	return appendJSONString(append(dst, key...), v)
}

func appendRawField(dst []byte, key string, raw json.RawMessage) ([]byte, error) {
	if len(raw) == 0 {
		return dst, nil
	}
	return appendRaw(append(dst, key...), raw)
}

// appendJSONString appends s as json.Marshal writes a string: HTML-safe,
// U+2028 and U+2029 escaped, invalid UTF-8 replaced. Strings with none of
// those (nearly all) are copied as they are.
func appendJSONString(dst []byte, s string) []byte {
	high := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return appendMarshal(dst, s)
		}
		if c >= utf8.RuneSelf {
			high = true
		}
	}
	if high && (!utf8.ValidString(s) || hasLineSeparator([]byte(s))) {
		return appendMarshal(dst, s)
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

func appendMarshal(dst []byte, s string) []byte {
	out, _ := json.Marshal(s) // a string always marshals
	return append(dst, out...)
}

// appendRaw appends raw JSON as json.Marshal writes a RawMessage: validated,
// compacted and HTML-escaped. Raw JSON that is already all that (nearly
// all: the intake compacts what it stores) is copied after one scan.
func appendRaw(dst []byte, raw json.RawMessage) ([]byte, error) {
	out, err := normalizeRaw(raw)
	if err != nil {
		return dst, err
	}
	return append(dst, out...), nil
}

// normalizeRaw returns raw as json.Marshal writes a RawMessage: raw itself
// when it is so already, else a compacted, escaped copy.
func normalizeRaw(raw json.RawMessage) ([]byte, error) {
	s := scanner{data: raw}
	if _, ok := s.value(); ok && s.atEnd() && !s.spaced && len(raw) > 0 && !needsHTMLEscape(raw) {
		return raw, nil
	}
	return json.Marshal(raw)
}

func needsHTMLEscape(b []byte) bool {
	return bytes.IndexByte(b, '<') >= 0 || bytes.IndexByte(b, '>') >= 0 || bytes.IndexByte(b, '&') >= 0 || hasLineSeparator(b)
}

// hasLineSeparator reports U+2028 or U+2029, which json.Marshal escapes.
func hasLineSeparator(b []byte) bool {
	for {
		i := bytes.IndexByte(b, 0xE2)
		if i < 0 || i+2 >= len(b) {
			return false
		}
		if b[i+1] == 0x80 && b[i+2]&^1 == 0xA8 {
			return true
		}
		b = b[i+1:]
	}
}

// ExposureMetadata holds the fields of an exposure's metadata that say which
// config, rule and experiment it is about.
type ExposureMetadata struct {
	Config              FlexString `json:"config"`
	RuleID              FlexString `json:"ruleID"`
	AllocatedExperiment FlexString `json:"allocatedExperiment"`
	IsExplicitParameter FlexString `json:"isExplicitParameter"`
	ExperimentGroupName FlexString `json:"experimentGroupName"`
	// Gate, GateValue and ParameterName complete an exposure's identity
	// (dedupe_exposures): a gate exposure's, and a layer parameter's.
	Gate          FlexString `json:"gate"`
	GateValue     FlexString `json:"gateValue"`
	ParameterName FlexString `json:"parameterName"`
}

var exposureFields = []string{"config", "ruleID", "allocatedExperiment", "isExplicitParameter", "experimentGroupName", "gate", "gateValue", "parameterName"}

// DecodeExposureMetadata decodes an exposure's metadata object, with
// json.Unmarshal's result and errors.
func DecodeExposureMetadata(raw json.RawMessage) (ExposureMetadata, error) {
	if md, ok := decodeFlatExposure(raw); ok {
		return md, nil
	}
	var md ExposureMetadata
	s := scanner{data: raw, text: unsafeString(raw)}
	var seen uint32
	ok := s.members(func(name []byte) bool {
		dst, bit := md.field(name)
		if dst == nil {
			return s.unknown(name, exposureFields)
		}
		var ok bool
		*dst, ok = s.flexString()
		return ok && once(&seen, bit)
	})
	if ok && s.atEnd() {
		return md, nil
	}
	// A variable of its own: &md given to Unmarshal would move md to the
	// heap on every call, not only on this rare one.
	var slow ExposureMetadata
	err := json.Unmarshal(raw, &slow)
	return slow, err
}

// Member is one member of a JSON object.
type Member struct {
	Name  string
	Value json.RawMessage
}

// ObjectMembers decodes a JSON object as json.Unmarshal does into a
// map[string]json.RawMessage, but into a slice sorted by name, the order in
// which json.Marshal writes a map.
func ObjectMembers(obj json.RawMessage) ([]Member, error) {
	var scratch [16]member
	if raw, ok := objectMembers(scratch[:0], obj); ok {
		slices.SortStableFunc(raw, func(a, b member) int { return bytes.Compare(a.name, b.name) })
		text := unsafeString(obj)
		out := make([]Member, 0, len(raw))
		for i, m := range raw {
			if i+1 < len(raw) && bytes.Equal(m.name, raw[i+1].name) {
				continue // of repeated names the last wins, as in a map
			}
			off := cap(obj) - cap(m.name) // names are plain: no unescaping
			out = append(out, Member{Name: text[off : off+len(m.name)], Value: m.value})
		}
		return out, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(obj, &m); err != nil {
		return nil, err
	}
	out := make([]Member, 0, len(m))
	for k, v := range m {
		out = append(out, Member{Name: k, Value: v})
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// AppendObject appends members (sorted by name, no name twice) exactly as
// json.Marshal writes a map[string]json.RawMessage holding them.
func AppendObject(dst []byte, members []Member) ([]byte, error) {
	start := len(dst)
	dst = append(dst, '{')
	var err error
	for i, m := range members {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, m.Name)
		dst = append(dst, ':')
		if m.Value == nil {
			dst = append(dst, "null"...)
			continue
		}
		if dst, err = appendRaw(dst, m.Value); err != nil {
			return dst[:start], err
		}
	}
	return append(dst, '}'), nil
}
