package statsig

import (
	"reflect"
	"testing"
)

// checkOnePass holds the one-pass request scan (events read while reading
// the request) to the two passes it replaces: scan, then scanWireEvents on
// the events' raw value.
func checkOnePass(t *testing.T, input []byte, max int) {
	t.Helper()
	var one, two wireRequest
	events, scanned, ok := one.scanRequest(input, true, max)
	if ok2 := two.scan(input); ok != ok2 {
		t.Fatalf("request %q: one pass ok=%v, two passes ok=%v", input, ok, ok2)
	}
	if !ok {
		return
	}
	if !reflect.DeepEqual(one, two) {
		t.Fatalf("request %q: one pass %+v, two passes %+v", input, one, two)
	}
	want, wantOK := scanWireEvents(two.Events)
	if wantOK && max > 0 && len(want) > max {
		wantOK = false // the one pass leaves too many events to decodeEvents
	}
	if scanned != wantOK || (scanned && !reflect.DeepEqual(events, want)) {
		t.Fatalf("events of %q (max %d): one pass %v %+v, two passes %v %+v", input, max, scanned, events, wantOK, want)
	}
}

func FuzzOnePassRequest(f *testing.F) {
	for _, s := range fastJSONSeeds {
		f.Add([]byte(s), 0)
		f.Add([]byte(s), 1)
	}
	for _, body := range hotPathFixtureBodies(f) {
		f.Add(body, 0)
		f.Add(body, 3)
	}
	f.Fuzz(func(t *testing.T, input []byte, max int) {
		checkOnePass(t, input, max)
	})
}
