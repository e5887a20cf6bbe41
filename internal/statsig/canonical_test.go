package statsig

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// asciiEscaped re-encodes a JSON document with every non-ASCII character
// of every string written as a \u escape (surrogate pairs above U+FFFF)
// and with spaces after separators: the same values, other bytes, as a
// proxy or a re-import may write them.
func asciiEscaped(t testing.TB, raw []byte) []byte {
	t.Helper()
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", " ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, r := range buf.String() {
		switch {
		case r < 0x80:
			out.WriteRune(r)
		case r > 0xffff:
			r -= 0x10000
			out.WriteString(`\u` + hex4(0xd800+(r>>10)) + `\u` + hex4(0xdc00+(r&0x3ff)))
		default:
			out.WriteString(`\u` + hex4(r))
		}
	}
	return []byte(out.String())
}

func hex4(r rune) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[r>>12&0xf], digits[r>>8&0xf], digits[r>>4&0xf], digits[r&0xf]})
}

// Segment conformance check 11: the go-sdk request posted as captured and
// re-serialised with its non-ASCII characters as \u escapes (and Go's map
// order, and indentation) gives every event the same ID.
func TestEventIDsSurviveReencoding(t *testing.T) {
	for _, name := range []string{"go-sdk/log_event-1", "go-sdk-layers/log_event-2", "js-client/rgstr-1", "node-core/log_event-1"} {
		body, err := os.ReadFile(filepath.Join("..", "..", "testdata", "fixtures", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		info := RequestInfo{ReceivedAt: time.UnixMilli(1795541030000), ClientTime: 1795541029000, SDKKey: "key", SessionID: "s"}
		captured, _, err := DecodeRequest(body, info)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		reencoded := asciiEscaped(t, body)
		if bytes.Equal(reencoded, body) {
			t.Fatalf("%s: the re-encoding changed nothing", name)
		}
		again, _, err := DecodeRequest(reencoded, info)
		if err != nil {
			t.Fatalf("%s re-encoded: %v", name, err)
		}
		if len(again.Events) != len(captured.Events) {
			t.Fatalf("%s: %d events re-encoded, %d captured", name, len(again.Events), len(captured.Events))
		}
		escaped := 0
		for i := range captured.Events {
			if !bytes.Equal(captured.Events[i].Metadata, again.Events[i].Metadata) {
				escaped++
			}
			if captured.Events[i].ID != again.Events[i].ID {
				t.Errorf("%s event %d (%s): ID %s as captured, %s re-encoded", name, i, captured.Events[i].EventName, captured.Events[i].ID, again.Events[i].ID)
			}
		}
		t.Logf("%s: %d events, %d with metadata bytes changed by the re-encoding, all with the same ID", name, len(captured.Events), escaped)
	}
}

func TestCanonicalJSON(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`"plain"`, `"plain"`},
		{`"ünïcødé ✓"`, `"ünïcødé ✓"`},
		{`"\u00fcn\u00efc\u00f8d\u00e9 \u2713"`, `"ünïcødé ✓"`},
		{`"\ud83e\udd68"`, `"🥨"`},
		{`"a\/b"`, `"a/b"`},
		{`"\u003cb\u003e\u0026"`, `"<b>&"`},
		{`"q\"\\"`, `"q\"\\"`},
		{`"\u000a\u0009\u0008\u000c\u000d\u001f"`, `"\n\t\b\f\r\u001f"`},
		{`"\ud800"`, `"` + "\ufffd" + `"`},
		{"\"\xff\"", "\"\ufffd\""},
		{`1.0`, `1`},
		{`1e2`, `100`},
		{`1.50`, `1.5`},
		{`-0.0`, `-0`},
		{`1E-7`, `1e-7`},
		{`1e21`, `1e+21`},
		{`12345678901234567890`, `12345678901234567890`},
		{`1e999`, `1e999`},
		{` { "b" : [ 1 , true , null ] , "a" : { } } `, `{"a":{},"b":[1,true,null]}`},
		{`{"b":1,"a":2,"b":3}`, `{"a":2,"b":3}`},
		{`{"\u0061":"x"}`, `{"a":"x"}`},
		{`not json`, `not json`},
		{`{"a":1`, `{"a":1`},
		{``, ``},
	} {
		if got := string(appendCanonicalJSON(nil, []byte(c.in))); got != c.want {
			t.Errorf("canonical(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}

// FuzzCanonicalJSON holds the hand-written canonical form to the
// reference written with encoding/json, and to what canonical form means:
// valid JSON stays valid with the same values, and is a fixed point.
func FuzzCanonicalJSON(f *testing.F) {
	for _, s := range []string{`"ünï\u00e9 ✓"`, `{"a":[1.0,2e3,"\ud83d\ude00"],"b":null}`, `-0.000001`, `1e-7`, `"\u2028<&>"`, " [ true , false ] "} {
		f.Add([]byte(s))
	}
	for _, body := range hotPathFixtureBodies(f) {
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got := appendCanonicalJSON(nil, raw)
		if want := referenceCanonical(raw); !bytes.Equal(got, want) {
			t.Fatalf("canonical(%q)\n got %q\nwant %q", raw, got, want)
		}
		if !json.Valid(raw) {
			return
		}
		if !json.Valid(got) {
			t.Fatalf("canonical(%q) = %q is not JSON", raw, got)
		}
		if again := appendCanonicalJSON(nil, got); !bytes.Equal(again, got) {
			t.Fatalf("canonical is not a fixed point: %q → %q → %q", raw, got, again)
		}
		var a, b any
		if json.Unmarshal(raw, &a) != nil || json.Unmarshal(got, &b) != nil {
			return // nesting deeper than encoding/json takes
		}
		aj, _ := json.Marshal(a)
		bj, _ := json.Marshal(b)
		if !bytes.Equal(aj, bj) {
			t.Fatalf("canonical(%q) = %q holds other values", raw, got)
		}
	})
}
