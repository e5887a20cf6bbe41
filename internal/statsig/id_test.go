package statsig

import (
	"bytes"
	"testing"
	"time"
)

// sortedObjectSeeds are the edges of appendSortedObject: what it must take
// (sorted plain names, values needing canonical form) and what it must
// leave to the general way (repeats, disorder, escaped names, junk).
var sortedObjectSeeds = []string{
	`{"config":"c","configSyncTime":"1","ruleID":"r","serverTime":"2"}`,
	`{"a":1.50,"b":"\u00e9\/","c":{"z":1,"y":[1e2, 2]},"d":null}`,
	`{"":1,"a":2}`,
	`{"a":1,"a":2}`,
	`{"b":1,"a":2}`,
	`{"A":1,"a":2,"b":3}`,
	`{"a\u0062":1,"ac":2}`,
	` { "a" : 1 , "b" : [ true ] } `,
	`{"a":1,"b":2} x`,
	`{"a":1,"b":}`,
	`{"a":"` + "\xff" + `","b":"<&>"}`,
	`{}`,
}

// FuzzSortedObject holds the one-pass canonical form of sorted metadata to
// the general way (list, sort, write) for any input; FuzzEventIDs holds
// both to the reference algorithm.
func FuzzSortedObject(f *testing.F) {
	for _, s := range sortedObjectSeeds {
		f.Add([]byte(s))
	}
	for _, m := range fixtureMetadata(f) {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkSortedObject(t, raw)
	})
}

func checkSortedObject(t *testing.T, raw []byte) {
	t.Helper()
	prefix := []byte("prefix\x00")
	want, _ := appendCanonicalMembers(bytes.Clone(prefix), nil, raw)
	got, ok := appendSortedObject(bytes.Clone(prefix), raw)
	if !ok {
		if !bytes.Equal(got, prefix) {
			t.Fatalf("appendSortedObject(%q) declined but left %q", raw, got)
		}
		return
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("appendSortedObject(%q)\n got %q\nwant %q", raw, got, want)
	}
}

func TestSortedObjectSeeds(t *testing.T) {
	for _, s := range sortedObjectSeeds {
		checkSortedObject(t, []byte(s))
	}
}

// TestFixtureMetadataTakesOnePass keeps the fast path honest: the SDKs'
// metadata (Go writes map keys sorted) must take it, or it saves nothing.
func TestFixtureMetadataTakesOnePass(t *testing.T) {
	taken, total := 0, 0
	for _, m := range fixtureMetadata(t) {
		if len(m) == 0 || m[0] != '{' {
			continue
		}
		total++
		if _, ok := appendSortedObject(nil, m); ok {
			taken++
		}
		checkSortedObject(t, m)
	}
	if total == 0 || taken == 0 {
		t.Fatalf("%d of %d fixture metadata objects take the one-pass way", taken, total)
	}
	t.Logf("%d of %d fixture metadata objects take the one-pass way", taken, total)
}

// fixtureMetadata is every event's metadata in the SDK fixtures.
func fixtureMetadata(tb testing.TB) [][]byte {
	tb.Helper()
	var out [][]byte
	for _, fb := range fixtureBodies(tb) {
		if fb.Webhook {
			continue
		}
		b, _, err := DecodeRequest(fb.Body, RequestInfo{ReceivedAt: time.UnixMilli(1795541030000), SDKKey: "k"})
		if err != nil {
			tb.Fatalf("%s: %v", fb.Name, err)
		}
		for i := range b.Events {
			out = append(out, b.Events[i].Metadata)
		}
	}
	return out
}
