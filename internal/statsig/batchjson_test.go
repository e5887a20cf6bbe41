package statsig

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The hot paths (scanner, identity hashing, batch encoding and decoding)
// are rewrites of simple encoding/json code for speed. These tests hold them
// to the simple code's results, byte for byte, on the fixtures and on fuzzed
// input: event IDs become Segment messageIds and must never change.

// hotPathFixtureBodies returns every captured SDK request body (decompressed).
func hotPathFixtureBodies(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "fixtures", "*", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		if strings.HasSuffix(f, "download_config_specs.json") {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f)] = raw
	}
	if len(out) == 0 {
		t.Fatal("no fixture bodies found")
	}
	return out
}

// referenceIDs computes event IDs the way the first version of assignIDs
// did: field by field into a streaming hash, metadata canonicalised through
// a map.
func referenceIDs(b *Batch) []string {
	h := sha256.New()
	seen := map[[32]byte]int{}
	var sum [32]byte
	ids := make([]string, len(b.Events))
	for i := range b.Events {
		e := &b.Events[i]
		if e.TimeUUID != "" && len(e.TimeUUID) <= 64 {
			ids[i] = e.TimeUUID
			continue
		}
		h.Reset()
		referenceIdentity(h, b, e)
		h.Sum(sum[:0])
		n := seen[sum]
		seen[sum] = n + 1
		if n > 0 {
			h.Write([]byte(strconv.Itoa(n)))
			h.Sum(sum[:0])
		}
		ids[i] = uuidFromHash(sum[:])
	}
	return ids
}

func referenceIdentity(h hash.Hash, b *Batch, e *Event) {
	field := func(s string) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	field(b.KeyID)
	field(b.SessionID)
	field(e.EventName)
	field(strconv.FormatInt(e.Time, 10))
	if e.Time <= 0 {
		field(strconv.FormatInt(b.ClientTime, 10))
	}
	if u := e.User; u != nil {
		field(string(u.UserID))
		keys := make([]string, 0, len(u.CustomIDs))
		for k := range u.CustomIDs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			field(k)
			field(string(u.CustomIDs[k]))
		}
	}
	field(string(referenceCanonical(e.Value)))
	raw := e.Metadata
	if len(raw) == 0 || raw[0] != '{' {
		h.Write(referenceCanonical(raw))
		return
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		h.Write(raw)
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{1})
		h.Write(referenceCanonical(m[k]))
		h.Write([]byte{2})
	}
}

// referenceCanonical is appendCanonicalJSON written the slow, obvious way:
// encoding/json decodes the value (numbers as written), strings are
// re-encoded rune by rune with only the escapes JSON requires, object
// members sorted by that encoding, non-integer numbers through json.Marshal
// of their float64. Invalid JSON comes back as it is.
func referenceCanonical(raw []byte) []byte {
	if len(raw) == 0 || !json.Valid(raw) {
		return raw
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return raw // nesting deeper than encoding/json takes
	}
	return referenceValue(nil, v)
}

func referenceValue(out []byte, v any) []byte {
	switch v := v.(type) {
	case map[string]any:
		type member struct{ name, value []byte }
		var members []member
		for k, x := range v {
			members = append(members, member{referenceString(nil, k), referenceValue(nil, x)})
		}
		slices.SortFunc(members, func(a, b member) int { return bytes.Compare(a.name, b.name) })
		out = append(out, '{')
		for i, m := range members {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(append(append(out, m.name...), ':'), m.value...)
		}
		return append(out, '}')
	case []any:
		out = append(out, '[')
		for i, x := range v {
			if i > 0 {
				out = append(out, ',')
			}
			out = referenceValue(out, x)
		}
		return append(out, ']')
	case string:
		return referenceString(out, v)
	case json.Number:
		if !strings.ContainsAny(string(v), ".eE") {
			return append(out, v...)
		}
		f, err := v.Float64()
		b, merr := json.Marshal(f)
		if err != nil || merr != nil {
			return append(out, v...)
		}
		return append(out, b...)
	case bool:
		return strconv.AppendBool(out, v)
	default:
		return append(out, "null"...)
	}
}

func referenceString(out []byte, v string) []byte {
	out = append(out, '"')
	for _, r := range v {
		switch {
		case r == '"' || r == '\\':
			out = append(out, '\\', byte(r))
		case r == '\n':
			out = append(out, `\n`...)
		case r == '\r':
			out = append(out, `\r`...)
		case r == '\t':
			out = append(out, `\t`...)
		case r == '\b':
			out = append(out, `\b`...)
		case r == '\f':
			out = append(out, `\f`...)
		case r < 0x20:
			out = append(out, fmt.Sprintf(`\u%04x`, r)...)
		default:
			out = utf8.AppendRune(out, r)
		}
	}
	return append(out, '"')
}

func checkReferenceIDs(t *testing.T, name string, b *Batch) {
	t.Helper()
	want := referenceIDs(b)
	for i := range b.Events {
		if b.Events[i].ID != want[i] {
			t.Fatalf("%s: event %d (%s) has ID %s, the reference algorithm gives %s", name, i, b.Events[i].EventName, b.Events[i].ID, want[i])
		}
	}
}

func TestEventIDsMatchReferenceOnFixtures(t *testing.T) {
	for name, body := range hotPathFixtureBodies(t) {
		info := RequestInfo{ReceivedAt: time.UnixMilli(1795541030000), ClientTime: 1795541029000, SDKKey: "key", SessionID: "s"}
		b, _, err := DecodeRequest(body, info)
		if err != nil {
			if strings.HasPrefix(name, "webhook/") {
				continue
			}
			t.Fatalf("%s: %v", name, err)
		}
		if len(b.Events) == 0 {
			t.Fatalf("%s: no events", name)
		}
		checkReferenceIDs(t, name, b)
	}
}

// FuzzEventIDs feeds metadata objects (reordered, repeated, escaped names,
// spaces, nesting) and compares the IDs with the reference algorithm.
func FuzzEventIDs(f *testing.F) {
	for _, s := range []string{
		`{"gate":"g","gateValue":"true","ruleID":"r"}`,
		`{"ruleID":"r","gate":"g","gateValue":"true"}`,
		`{"a":1,"a":2}`,
		`{"a\u0062":1,"ab":2}`,
		` { "b" : [1, {"x":"y"}] , "a" : null } `,
		`{"é":"ü","e":"\ud83d\ude00"}`,
		`{}`,
		`[1,2]`,
		`"x"`,
		`{"K":1,"k":2}`,
	} {
		f.Add(s, "user", int64(1795541027894))
	}
	f.Fuzz(func(t *testing.T, metadata, user string, tm int64) {
		body, err := json.Marshal(map[string]any{"events": []any{
			map[string]any{"eventName": "e", "user": map[string]any{"userID": user, "customIDs": map[string]string{"b": "1", "a": user}}, "time": tm, "metadata": json.RawMessage(metadata)},
			map[string]any{"eventName": "e", "user": map[string]any{"userID": user, "customIDs": map[string]string{"b": "1", "a": user}}, "time": tm, "metadata": json.RawMessage(metadata)},
		}})
		if err != nil {
			return // metadata is not JSON
		}
		b, _, err := DecodeRequest(body, RequestInfo{SDKKey: "k", ClientTime: 5})
		if err != nil {
			return
		}
		// Marshal compacts RawMessage; put the fuzzed bytes back as sent.
		for i := range b.Events {
			if len(b.Events[i].Metadata) > 0 {
				b.Events[i].Metadata = json.RawMessage(metadata)
			}
		}
		b.assignIDs(body)
		checkReferenceIDs(t, "fuzz", b)
	})
}

// withEventNames returns the scanner's events as encoding/json decodes
// them: the name it read (name, named) in EventName.
func withEventNames(t *testing.T, evs []wireEvent) []wireEvent {
	t.Helper()
	if evs == nil {
		return nil
	}
	out := make([]wireEvent, len(evs))
	for i, w := range evs {
		if w.named {
			if w.EventName != nil {
				t.Fatalf("event %d has both a scanned and a decoded name", i)
			}
			name := w.name
			w.EventName = &name
		}
		w.name, w.named = "", false
		out[i] = w
	}
	return out
}

// checkSameDecode decodes input with the fast decoders and with plain
// encoding/json and fails on any difference in result or error.
func checkSameDecode(t *testing.T, input []byte) {
	t.Helper()
	var fastReq, slowReq wireRequest
	fastErr, slowErr := fastReq.decode(input), json.Unmarshal(input, &slowReq)
	if (fastErr == nil) != (slowErr == nil) || (slowErr == nil && !reflect.DeepEqual(fastReq, slowReq)) {
		t.Fatalf("wireRequest of %q:\nfast %+v (%v)\njson %+v (%v)", input, fastReq, fastErr, slowReq, slowErr)
	}
	var fastMD, slowMD requestMetadata
	fastErr, slowErr = fastMD.decode(input), json.Unmarshal(input, &slowMD)
	if (fastErr == nil) != (slowErr == nil) || (slowErr == nil && fastMD != slowMD) {
		t.Fatalf("requestMetadata of %q:\nfast %+v (%v)\njson %+v (%v)", input, fastMD, fastErr, slowMD, slowErr)
	}
	var fastEvs, slowEvs []wireEvent
	fastErr, slowErr = decodeWireEvents(input, &fastEvs), json.Unmarshal(input, &slowEvs)
	if (fastErr == nil) != (slowErr == nil) || (slowErr == nil && !reflect.DeepEqual(withEventNames(t, fastEvs), slowEvs)) {
		t.Fatalf("events of %q:\nfast %+v (%v)\njson %+v (%v)", input, fastEvs, fastErr, slowEvs, slowErr)
	}
	fastBatch, fastErr := DecodeBatch(input)
	var slowBatch Batch
	slowErr = json.Unmarshal(input, &slowBatch)
	if (fastErr == nil) != (slowErr == nil) || (slowErr == nil && !reflect.DeepEqual(*fastBatch, slowBatch)) {
		t.Fatalf("Batch of %q:\nfast %+v (%v)\njson %+v (%v)", input, fastBatch, fastErr, slowBatch, slowErr)
	}
	if slowErr == nil {
		checkSameEncode(t, &slowBatch)
	}
	fastExp, fastErr := DecodeExposureMetadata(input)
	var slowExp ExposureMetadata
	slowErr = json.Unmarshal(input, &slowExp)
	if (fastErr == nil) != (slowErr == nil) || (slowErr == nil && fastExp != slowExp) {
		t.Fatalf("ExposureMetadata of %q:\nfast %+v (%v)\njson %+v (%v)", input, fastExp, fastErr, slowExp, slowErr)
	}
	members, fastErr := ObjectMembers(input)
	var slowMap map[string]json.RawMessage
	slowErr = json.Unmarshal(input, &slowMap)
	if (fastErr == nil) != (slowErr == nil) || len(members) != len(slowMap) {
		t.Fatalf("ObjectMembers of %q:\nfast %q (%v)\njson %q (%v)", input, members, fastErr, slowMap, slowErr)
	}
	for i, m := range members {
		if v, ok := slowMap[m.Name]; !ok || string(v) != string(m.Value) || (i > 0 && members[i-1].Name >= m.Name) {
			t.Fatalf("ObjectMembers of %q: %q, json has %q", input, members, slowMap)
		}
	}
	if slowMap != nil { // an object, not null
		fast, fastErr := AppendObject(nil, members)
		slow, slowErr := json.Marshal(slowMap)
		if (fastErr == nil) != (slowErr == nil) || string(fast) != string(slow) {
			t.Fatalf("AppendObject of %q:\nfast %s (%v)\njson %s (%v)", input, fast, fastErr, slow, slowErr)
		}
	}
}

// checkSameEncode compares Batch.AppendJSON with json.Marshal.
func checkSameEncode(t *testing.T, b *Batch) {
	t.Helper()
	fast, fastErr := b.AppendJSON([]byte("prefix"))
	slow, slowErr := json.Marshal(b)
	if (fastErr == nil) != (slowErr == nil) {
		t.Fatalf("encoding %+v: AppendJSON error %v, json.Marshal error %v", b, fastErr, slowErr)
	}
	if slowErr == nil && string(fast) != "prefix"+string(slow) {
		t.Fatalf("encoding %+v:\nAppendJSON   %s\njson.Marshal %s", b, fast[len("prefix"):], slow)
	}
	if slowErr != nil && string(fast) != "prefix" {
		t.Fatalf("AppendJSON left %q behind after an error", fast)
	}
}

func TestFastJSONMatchesEncodingJSONOnFixtures(t *testing.T) {
	for name, body := range hotPathFixtureBodies(t) {
		checkSameDecode(t, body)
		if strings.HasPrefix(name, "webhook/") {
			continue
		}
		// The fixtures must take the fast paths, or this test proves nothing.
		var req wireRequest
		if !req.scan(body) {
			t.Fatalf("%s: the scanner declined the request", name)
		}
		if _, ok := scanWireEvents(req.Events); !ok {
			t.Fatalf("%s: the scanner declined the events", name)
		}
		checkSameDecode(t, req.Events)
		b, _, err := DecodeRequest(body, RequestInfo{ReceivedAt: time.UnixMilli(1795541030000), SDKKey: "k", SDKType: "t"})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkSameEncode(t, b)
		stored, err := b.AppendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		var again Batch
		if !again.scan(stored) {
			t.Fatalf("%s: the scanner declined the stored batch", name)
		}
		checkSameDecode(t, stored)
	}
}

var fastJSONSeeds = []string{
	`{"events":[{"eventName":"a","user":{"userID":12,"customIDs":{"stableID":"s","b":true}},"time":"2026-01-02T03:04:05Z"}],"statsigMetadata":{"sdkType":"x","sessionID":null}}`,
	`{"EVENTS":[],"events":[]}`,
	`{"events":[],"events":[1]}`,
	`{"events":[{"eventName":"a","eventName":"b"}]}`,
	`{"events":[{"eventname":"a"}]}`,
	`{"events":[{"eventName":"a\u0000\"<>&\u2028","user":null,"value":" x ","metadata":{ "a" : [ 1 , 2 ] }}]}`,
	`{"events":[null,{"eventName":1},{"eventName":"ok","user":{"customIDs":{"\u00e9":"v","k":null}}}]}`,
	`{"events":[{"eventName":"\xff\xfe","user":{"userID":"\xe2\x80\xa8","email":{}}}]}`,
	"{\"events\":[{\"eventName\":\"é\",\"metadata\":{\"x\":\"\xe2\x80\xa9\"}}]}",
	`{"id":"x","source":"sdk","receivedAt":1,"clientTime":-2,"events":[{"id":"i","eventName":"e","time":1.5}]}`,
	`{"id":"x","source":"sdk","receivedAt":1,"events":[{"id":"i","eventName":"e","time":12,"user":{"custom":{"a" :1}},"value":"<b>"}]}`,
	`{"id":null,"receivedAt":null,"events":null,"statsigMetadata":null}`,
	`{"id":"x","events":[{"id":"i","eventName":"e","timeUUID":"u","unitID":"userID","statsigMetadata":{"stableID":"s"}}],"unknown":{"deep":[[[]]]}}`,
	`[{"eventName":"bare"}]`,
	`{"events":[1e400]}`,
	`{"events":[{"eventName":"a","time":01}]}`,
	`{"a":"\ud800"}`,
	` {"events" : [ ] } `,
	`{"events":[]} x`,
	`{"events":[{"eventName":"a","user":{"userID":"u","userID":"v"}}]}`,
	`{"config":"layer","ruleID":5,"allocatedExperiment":"exp","isExplicitParameter":"true","parameterName":"p"}`,
	`{"config":{"x":1}}`,
	`{"Config":"c"}`,
	`{"gate":"g","gateValue":"true","ruleID":"r","GATE":"x","parameterName":7,"gatevalue":null}`,
	`{"b":"<x>","a":1,"b":" y ","c":[ 1 ],"\u0061":2}`,
	`null`,
}

func FuzzFastJSON(f *testing.F) {
	addFastJSONSeeds(f)
	f.Fuzz(func(t *testing.T, input []byte) {
		checkSameDecode(t, input)
	})
}

// addFastJSONSeeds adds the seeds, the hot path's fixtures, the webhook
// batches, and every fixture as JSON as the log stored it: what
// DecodeBatch reads back.
func addFastJSONSeeds(f *testing.F) {
	for _, s := range fastJSONSeeds {
		f.Add([]byte(s))
	}
	for _, body := range hotPathFixtureBodies(f) {
		f.Add(body)
	}
	for _, fb := range fixtureBodies(f) {
		f.Add(fb.Body)
	}
	for _, fb := range fixtureBatches(f) {
		stored, err := fb.Batch.AppendJSON(nil)
		if err != nil {
			f.Fatalf("%s: %v", fb.Name, err)
		}
		f.Add(stored)
	}
}

func TestFastJSONSeeds(t *testing.T) {
	for _, s := range fastJSONSeeds {
		checkSameDecode(t, []byte(s))
	}
}
