package debugger

import (
	"encoding/json"
	"testing"

	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// TestFilterAllowedBlockedAndPropertyValues (Segment conformance check
// 52): Blocked is an event every destination filtered out; Allowed any
// other, one not yet reported on included; the property-value search reads
// the value and metadata values (nested, numbers and booleans as written),
// never their names; and the filters combine with AND.
func TestFilterAllowedBlockedAndPropertyValues(t *testing.T) {
	ev := &statsig.Event{EventName: "purchase", Value: json.RawMessage(`"Gold Plan"`),
		Metadata: json.RawMessage(`{"sku":"SKU-9","cart":{"items":[{"qty":3}],"gift":true},"price":19.5}`)}
	blocked := record{ev: ev, outs: []output{{status: statusFiltered}, {status: statusFiltered}}}
	mixed := record{ev: ev, outs: []output{{status: statusFiltered}, {status: statusDeadLettered}}}
	fresh := record{ev: ev}
	d := &Debugger{}
	for _, c := range []struct {
		f    filter
		rec  record
		want bool
	}{
		{filter{status: statusBlocked}, blocked, true},
		{filter{status: statusAllowed}, blocked, false},
		{filter{status: statusAllowed}, mixed, true},
		{filter{status: statusBlocked}, mixed, false},
		{filter{status: statusAllowed}, fresh, true},
		{filter{value: "gold"}, fresh, true},
		{filter{value: "sku-9"}, fresh, true},
		{filter{value: "3"}, fresh, true},
		{filter{value: "19.5"}, fresh, true},
		{filter{value: "true"}, fresh, true},
		{filter{value: "price"}, fresh, false}, // a name, not a value
		{filter{value: "cart"}, fresh, false},  // an object's name
		{filter{value: "purchase"}, fresh, false},
		{filter{value: "gold", status: statusBlocked}, mixed, false},
		{filter{value: "gold", status: statusBlocked, kind: "custom"}, blocked, true},
	} {
		if got := d.match(c.f, &c.rec); got != c.want {
			t.Errorf("%+v on outputs %v: %v, want %v", c.f, c.rec.outs, got, c.want)
		}
	}
}
