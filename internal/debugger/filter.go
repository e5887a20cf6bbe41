package debugger

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// Outcome filters of the event list, as Segment's debugger has them
// (conformance check 52): Allowed is an event some destination takes (it
// is sent, waiting or failed), Blocked one every destination filtered out.
const (
	statusAllowed = "allowed"
	statusBlocked = "blocked"
)

// allowed reports whether some destination did not filter the event out.
// An event no destination has reported on yet counts as allowed: it is on
// its way.
func (rec *record) allowed() bool {
	if len(rec.outs) == 0 {
		return true
	}
	for _, o := range rec.outs {
		if o.status != statusFiltered {
			return true
		}
	}
	return false
}

// matchPropertyValue reports whether q (lower case) is in one of the
// event's property values: its value and the values in its metadata, the
// properties of the Track message it maps to. Names never match: that
// is what the search over the raw payload is for.
func matchPropertyValue(ev *statsig.Event, q string) bool {
	for _, raw := range []json.RawMessage{ev.Value, ev.Metadata} {
		if len(raw) == 0 {
			continue
		}
		var v any
		if json.Unmarshal(raw, &v) == nil && valueContains(v, q) {
			return true
		}
	}
	return false
}

// valueContains reports whether q is in v or, for an object or array, in
// one of the values it holds.
func valueContains(v any, q string) bool {
	switch v := v.(type) {
	case string:
		return strings.Contains(strings.ToLower(v), q)
	case float64:
		return strings.Contains(strconv.FormatFloat(v, 'f', -1, 64), q)
	case bool:
		return strings.Contains(strconv.FormatBool(v), q)
	case map[string]any:
		for _, c := range v {
			if valueContains(c, q) {
				return true
			}
		}
	case []any:
		for _, c := range v {
			if valueContains(c, q) {
				return true
			}
		}
	}
	return false
}
