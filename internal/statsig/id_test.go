package statsig

import (
	"bytes"
	"slices"
	"testing"
	"time"
)

// canonicalObjectSeeds are the edges of the fast ways of appendCanonical:
// what they must take (flat objects, sorted plain names, values needing
// canonical form) and what they must leave to the general way (repeats,
// disorder, escaped names, spaces, non-ASCII, junk).
var canonicalObjectSeeds = []string{
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
	`{"b":"2","a":"1","b":"3"}`,
	`{"a":"x","b":"y\u0041"}`,
	`{"a":"x","b":"` + "\x7f" + `"}`,
	`{"a":"x" ,"b":"y"}`,
	`{"a":"x","b":"y"`,
	`{"a":"x","b":"y"}}`,
	`{"a":"x",}`,
	`{"a":"x""b":"y"}`,
	`{"a":"é"}`,
	`{"a":"<&>"}`,
	`{"a":"\t"}`,
	`{"a":"` + "\t" + `"}`,
	`{"a:"x"}`,
	`{"":""}`,
}

// FuzzCanonicalObject holds the fast ways of appendCanonical (flat
// objects, then sorted ones in one pass) to the general way (list with the
// scanner, sort, canonicalise each value, write) for any input, and
// flatMembers to the scanner's list; FuzzEventIDs holds all of it to the
// reference algorithm.
func FuzzCanonicalObject(f *testing.F) {
	for _, s := range canonicalObjectSeeds {
		f.Add([]byte(s))
	}
	for _, m := range fixtureMetadata(f) {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkCanonicalObject(t, raw)
	})
}

func checkCanonicalObject(t *testing.T, raw []byte) {
	t.Helper()
	prefix := []byte("prefix\x00")
	asObject, _ := appendCanonicalMembers(bytes.Clone(prefix), nil, raw)
	want := asObject
	if len(raw) == 0 || raw[0] != '{' {
		want = appendCanonicalJSON(bytes.Clone(prefix), raw)
	}
	if got, _ := appendCanonical(bytes.Clone(prefix), nil, raw); !bytes.Equal(got, want) {
		t.Fatalf("appendCanonical(%q)\n got %q\nwant %q", raw, got, want)
	}
	if flat, ok := flatMembers(nil, raw); ok {
		listed, ok := objectMembers(nil, raw)
		if !ok || !slices.EqualFunc(flat, listed, func(a, b member) bool {
			return bytes.Equal(a.name, b.name) && bytes.Equal(a.value, b.value)
		}) {
			t.Fatalf("flatMembers(%q) = %q, the scanner lists %q (%v)", raw, flat, listed, ok)
		}
		for _, m := range flat {
			if c := appendCanonicalJSON(nil, m.value); m.value[0] != '"' || !bytes.Equal(c, m.value) {
				t.Fatalf("flatMembers(%q): value %q is not a string in canonical form (%q)", raw, m.value, c)
			}
		}
	}
	got, ok := appendSortedObject(bytes.Clone(prefix), raw)
	if !ok {
		if !bytes.Equal(got, prefix) {
			t.Fatalf("appendSortedObject(%q) declined but left %q", raw, got)
		}
		return
	}
	if !bytes.Equal(got, asObject) {
		t.Fatalf("appendSortedObject(%q)\n got %q\nwant %q", raw, got, asObject)
	}
}

func TestCanonicalObjectSeeds(t *testing.T) {
	for _, s := range canonicalObjectSeeds {
		checkCanonicalObject(t, []byte(s))
	}
}

// TestFixtureMetadataTakesFastWays keeps the fast paths honest: the SDKs'
// metadata must take them, or they save nothing.
func TestFixtureMetadataTakesFastWays(t *testing.T) {
	taken, flat, total := 0, 0, 0
	for _, m := range fixtureMetadata(t) {
		if len(m) == 0 || m[0] != '{' {
			continue
		}
		total++
		if _, ok := appendSortedObject(nil, m); ok {
			taken++
		}
		if _, ok := flatMembers(nil, m); ok {
			flat++
		}
		checkCanonicalObject(t, m)
	}
	if total == 0 || taken == 0 || flat == 0 {
		t.Fatalf("of %d fixture metadata objects %d are flat and %d sorted", total, flat, taken)
	}
	t.Logf("of %d fixture metadata objects %d are flat and %d sorted", total, flat, taken)
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
