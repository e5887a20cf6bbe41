package statsig

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// fixtureBody is one captured request body, decompressed.
type fixtureBody struct {
	Name    string // folder/name
	Webhook bool
	Body    []byte
	// EventCount is the Statsig-Event-Count header, -1 when absent.
	EventCount int
}

// fixtureBodies returns every testdata/fixtures/*/*.body, decompressed by
// magic bytes as the intake does.
func fixtureBodies(t testing.TB) []fixtureBody {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "..", "testdata", "fixtures", "*", "*.body"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixture bodies: %v", err)
	}
	slices.Sort(paths)
	var out []fixtureBody
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case bytes.HasPrefix(raw, []byte{0x1f, 0x8b}):
			raw = gunzip(t, raw)
		case bytes.HasPrefix(raw, []byte{0x28, 0xb5, 0x2f, 0xfd}):
			d, err := zstd.NewReader(nil)
			if err != nil {
				t.Fatal(err)
			}
			raw, err = d.DecodeAll(raw, nil)
			d.Close()
			if err != nil {
				t.Fatalf("%s: zstd: %v", p, err)
			}
		}
		folder := filepath.Base(filepath.Dir(p))
		fb := fixtureBody{
			Name:       folder + "/" + strings.TrimSuffix(filepath.Base(p), ".body"),
			Webhook:    folder == "webhook",
			Body:       raw,
			EventCount: -1,
		}
		if h, err := os.ReadFile(strings.TrimSuffix(p, ".body") + ".headers"); err == nil {
			for _, line := range strings.Split(string(h), "\n") {
				k, v, ok := strings.Cut(line, ":")
				if ok && strings.EqualFold(strings.TrimSpace(k), "Statsig-Event-Count") {
					fb.EventCount, _ = strconv.Atoi(strings.TrimSpace(v))
				}
			}
		}
		out = append(out, fb)
	}
	return out
}

func TestEveryFixtureIsAcceptedWhole(t *testing.T) {
	for _, f := range fixtureBodies(t) {
		t.Run(f.Name, func(t *testing.T) {
			var (
				b   *Batch
				rej []Rejection
				err error
			)
			if f.Webhook {
				b, rej, err = DecodeWebhook(f.Body, time.UnixMilli(1_800_000_000_000), 0)
			} else {
				b, rej, err = DecodeRequest(f.Body, RequestInfo{ReceivedAt: time.UnixMilli(1_800_000_000_000), SDKKey: "k"})
			}
			if err != nil || len(rej) != 0 {
				t.Fatalf("err %v, rejections %+v", err, rej)
			}
			if want := countEvents(t, f.Body, f.Webhook); len(b.Events) != want {
				t.Fatalf("%d events decoded, the body holds %d", len(b.Events), want)
			}
			if f.EventCount >= 0 && len(b.Events) != f.EventCount {
				t.Fatalf("%d events decoded, Statsig-Event-Count says %d", len(b.Events), f.EventCount)
			}
			checkBatchInvariants(t, b)
		})
	}
}

// countEvents counts the elements of the body's events array independently
// of the decoder.
func countEvents(t testing.TB, body []byte, webhook bool) int {
	n, ok := eventsArrayLen(body, webhook)
	if !ok {
		t.Fatalf("body holds no events array")
	}
	return n
}

// eventsArrayLen returns the number of elements of the body's events array
// ({"events":[…]} or a bare array for SDK bodies; {"data":[…]} or a bare
// array for webhooks), and false when the body has none.
func eventsArrayLen(body []byte, webhook bool) (int, bool) {
	body = bytes.TrimSpace(body)
	var items []json.RawMessage
	if len(body) > 0 && body[0] == '[' {
		if json.Unmarshal(body, &items) != nil {
			return 0, false
		}
		return len(items), true
	}
	// A struct, not a map: encoding/json matches keys case-insensitively
	// ("Events") and the last duplicate wins, and so does the decoder.
	var env struct {
		Events []json.RawMessage `json:"events"`
		Data   []json.RawMessage `json:"data"`
	}
	if json.Unmarshal(body, &env) != nil {
		return 0, false
	}
	items = env.Events
	if webhook {
		items = env.Data
	}
	if items == nil {
		return 0, false
	}
	return len(items), true
}

// checkBatchInvariants holds for every batch a decoder returns.
func checkBatchInvariants(t testing.TB, b *Batch) {
	t.Helper()
	if b == nil {
		t.Fatal("nil batch without an error")
	}
	if len(b.ID) != 36 {
		t.Fatalf("batch ID %q is not a UUID", b.ID)
	}
	ids := map[string]bool{}
	for i, e := range b.Events {
		if strings.TrimSpace(e.EventName) == "" || e.EventName != strings.TrimSpace(e.EventName) {
			t.Fatalf("event %d: name %q", i, e.EventName)
		}
		if e.ID == "" {
			t.Fatalf("event %d (%s) has no ID", i, e.EventName)
		}
		if e.TimeUUID == "" || len(e.TimeUUID) > 64 {
			if len(e.ID) != 36 {
				t.Fatalf("event %d: ID %q is not a UUID", i, e.ID)
			}
			if ids[e.ID] {
				t.Fatalf("event %d: ID %s used twice in one batch", i, e.ID)
			}
			ids[e.ID] = true
		}
		if e.Time < 0 {
			t.Fatalf("event %d: negative time %d", i, e.Time)
		}
		for name, raw := range map[string]json.RawMessage{"value": e.Value, "metadata": e.Metadata,
			"secondaryExposures": e.SecondaryExposures, "statsigMetadata": e.StatsigMetadata} {
			if len(raw) > 0 && !json.Valid(raw) {
				t.Fatalf("event %d: %s is not valid JSON: %q", i, name, raw)
			}
			if bytes.ContainsAny(raw, "\n\r\t") {
				t.Fatalf("event %d: %s keeps pretty-printing: %q", i, name, raw)
			}
		}
	}
	// The intake stores the batch; it must survive the round trip.
	data, err := b.AppendBinary(nil)
	if err != nil {
		t.Fatalf("batch does not encode: %v", err)
	}
	back, err := DecodeBatch(data)
	if err != nil {
		t.Fatalf("stored batch does not decode: %v", err)
	}
	if len(back.Events) != len(b.Events) {
		t.Fatalf("round trip: %d events, want %d", len(back.Events), len(b.Events))
	}
	for i := range b.Events {
		if back.Events[i].ID != b.Events[i].ID || back.Events[i].EventName != b.Events[i].EventName {
			t.Fatalf("round trip changed event %d: %+v vs %+v", i, back.Events[i], b.Events[i])
		}
	}
}

// TestDecodeRequestRefusesTooManyEventsBeforeDecoding posts 3 MB of empty
// objects (a million events, a few KB gzipped) against the default bound:
// the refusal must not decode them first (about 1 GB).
func TestDecodeRequestRefusesTooManyEventsBeforeDecoding(t *testing.T) {
	const n = 1 << 20
	body := []byte(`{"events":[` + strings.Repeat(`{},`, n-1) + `{}]}`)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, _, err := DecodeRequest(body, RequestInfo{ReceivedAt: time.Now(), MaxEvents: 10_000})
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooManyEvents) {
		t.Fatalf("err = %v, want ErrTooManyEvents", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("refusing %d events of a %d-byte body allocated %d MB", n, len(body), alloc>>20)
	}
}

func TestDecodeRequestTable(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		max     int
		events  int
		reasons []string
		err     error
	}{
		{name: "envelope", body: `{"events":[{"eventName":"a"}]}`, events: 1},
		{name: "bare array", body: ` [{"eventName":"a"},{"eventName":"b"}] `, events: 2},
		{name: "empty array", body: `{"events":[]}`, events: 0},
		{name: "no events key", body: `{"statsigMetadata":{}}`, err: ErrNoEvents},
		{name: "events null", body: `{"events":null}`, err: ErrNoEvents},
		{name: "events an object", body: `{"events":{"eventName":"a"}}`, err: ErrNoEvents},
		{name: "not JSON", body: `{"events":[`, err: ErrNotJSON},
		{name: "empty body", body: ``, err: ErrNotJSON},
		{name: "too many", body: `{"events":[{"eventName":"a"},{"eventName":"b"},{"eventName":"c"}]}`, max: 2, err: ErrTooManyEvents},
		{name: "too many, slow path", body: `{"events":[{"eventName":"a"},1,2]}`, max: 2, err: ErrTooManyEvents},
		{name: "at the bound", body: `{"events":[{"eventName":"a"},{"eventName":"b"}]}`, max: 2, events: 2},
		{name: "at the bound, commas and brackets in strings and nested values", max: 2, events: 2,
			body: `{"events":[{"eventName":"a,b],{","metadata":{"x":[1,2,3],"y":"\\"}},{"eventName":"c\",d","value":"\\\",["}]}`},
		{name: "too many, short elements", body: `{"events":[1,2,3]}`, max: 2, err: ErrTooManyEvents},
		{name: "blank name", body: `{"events":[{"eventName":"  "},{"eventName":"ok"}]}`, events: 1, reasons: []string{ReasonNameMissing}},
		{name: "null name", body: `{"events":[{"eventName":null}]}`, reasons: []string{ReasonNameMissing}},
		{name: "non-object elements", body: `{"events":[null,[],"x",3,{"eventName":"ok"}]}`, events: 1,
			reasons: []string{ReasonNotObject, ReasonNotObject, ReasonNotObject, ReasonNotObject}},
		{name: "user of the wrong type", body: `{"events":[{"eventName":"a","user":"bob"},{"eventName":"b"}]}`, events: 1, reasons: []string{ReasonInvalidField}},
		{name: "customIDs of the wrong type", body: `{"events":[{"eventName":"a","user":{"customIDs":{"x":{}}}}]}`, reasons: []string{ReasonInvalidField}},
		{name: "times", body: `{"events":[{"eventName":"a","time":"1700000000000"},{"eventName":"b","time":1.7e12},{"eventName":"c","time":-1},{"eventName":"d","time":""},{"eventName":"e","time":true}]}`,
			events: 3, reasons: []string{ReasonInvalidTime, ReasonInvalidTime}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, rej, err := DecodeRequest([]byte(tt.body), RequestInfo{SDKKey: "k", MaxEvents: tt.max})
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkBatchInvariants(t, b)
			var reasons []string
			for _, r := range rej {
				reasons = append(reasons, r.Reason)
			}
			if len(b.Events) != tt.events || !slices.Equal(reasons, tt.reasons) {
				t.Fatalf("%d events, rejections %+v; want %d, %v", len(b.Events), rej, tt.events, tt.reasons)
			}
			if n, ok := eventsArrayLen([]byte(tt.body), false); ok && n != len(b.Events)+len(rej) {
				t.Fatalf("%d accepted + %d rejected != %d elements", len(b.Events), len(rej), n)
			}
		})
	}
}

func TestDecodeRequestLevelFields(t *testing.T) {
	body := `{"events":[{"eventName":"a"},{"eventName":"b","user":{"userID":"own"}}],` +
		`"user":{"userID":"req-user"},"statsigMetadata":{"sdkType":"body-sdk","sessionID":"body-session","stableID":"s-1"}}`
	b, _, err := DecodeRequest([]byte(body), RequestInfo{SDKType: "header-sdk", SDKVersion: "9", SessionID: "header-session", ClientTime: 5, ReceivedAt: time.UnixMilli(7)})
	if err != nil {
		t.Fatal(err)
	}
	if b.Events[0].User == nil || b.Events[0].User.UserID != "req-user" || b.Events[1].User.UserID != "own" {
		t.Errorf("request-level user not applied only where missing: %+v %+v", b.Events[0].User, b.Events[1].User)
	}
	if b.SDKType != "body-sdk" || b.SDKVersion != "9" || b.SessionID != "body-session" || b.StableID != "s-1" ||
		b.ClientTime != 5 || b.ReceivedAt != 7 || b.Source != SourceSDK {
		t.Errorf("batch fields: %+v", b)
	}
	if b.KeyID != "" {
		t.Errorf("KeyID %q without a key", b.KeyID)
	}
}

// parseMillis, the fast way for integer times, must give what parseTime's
// ParseFloat gives, and decline what it cannot decide.
func TestParseMillisMatchesParseFloat(t *testing.T) {
	inputs := []string{"0", "7", "007", "1795541027894", "999999999999999", "1000000000000000", "-1", "1.5", "1e3", "", " 1", "12a"}
	for n := uint64(1); n < 1e17; n = n*7 + 3 {
		inputs = append(inputs, strconv.FormatUint(n, 10))
	}
	for _, in := range inputs {
		ms, ok := parseMillis([]byte(in))
		if !ok {
			if len(in) <= 15 && in != "" && strings.Trim(in, "0123456789") == "" {
				t.Errorf("parseMillis(%q) declined digits it can read", in)
			}
			continue
		}
		f, err := strconv.ParseFloat(in, 64)
		if err != nil || f > maxTimeMs || int64(f) != ms {
			t.Errorf("parseMillis(%q) = %d, ParseFloat gives %v (%v)", in, ms, f, err)
		}
	}
}

// Events written with the same user share one User (scanner.sharedUser):
// an event's own userID, given beside a user without one, must stay that
// event's.
func TestEventUserIDStaysWithItsEventWhenUsersAreShared(t *testing.T) {
	body := `{"events":[{"eventName":"a","user":{"email":"e@x"},"userID":"top-a"},` +
		`{"eventName":"b","user":{"email":"e@x"}},{"eventName":"c","user":{"email":"e@x"},"userID":"top-c"}]}`
	b, _, err := DecodeRequest([]byte(body), RequestInfo{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range b.Events {
		got = append(got, string(e.User.UserID)+"/"+string(e.User.Email))
	}
	if want := []string{"top-a/e@x", "/e@x", "top-c/e@x"}; !slices.Equal(got, want) {
		t.Errorf("users %q, want %q", got, want)
	}
	back, err := DecodeBatch(mustAppendBinary(t, b))
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range back.Events {
		if got := string(e.User.UserID) + "/" + string(e.User.Email); got != string(b.Events[i].User.UserID)+"/"+string(b.Events[i].User.Email) {
			t.Errorf("stored event %d has user %q", i, got)
		}
	}
}

func mustAppendBinary(t *testing.T, b *Batch) []byte {
	t.Helper()
	data, err := b.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestDecodeNeverKeepsTheSDKKeyOrPrivateAttributes(t *testing.T) {
	const key = "secret-very-private-key"
	body := `{"events":[{"eventName":"a","user":{"userID":"u","privateAttributes":{"ssn":"123-45-6789"}}}]}`
	b, _, err := DecodeRequest([]byte(body), RequestInfo{SDKKey: key})
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := b.AppendBinary(nil)
	shown, _ := json.Marshal(b)
	for _, s := range []string{key, "privateAttributes", "123-45-6789"} {
		if bytes.Contains(stored, []byte(s)) || bytes.Contains(shown, []byte(s)) {
			t.Errorf("stored batch contains %q: %q", s, stored)
		}
	}
	if b.KeyID == "" || b.KeyID != KeyID(key) {
		t.Errorf("KeyID = %q", b.KeyID)
	}
}

// Pretty-printed bodies (the go-sdk fixture is indented) must not carry
// their layout into the log or the Segment messages.
func TestDecodeCompactsPrettyPrintedJSON(t *testing.T) {
	pretty := "{\n \"events\": [\n  {\n   \"eventName\": \"e\",\n   \"user\": {\"userID\": \"u\", \"custom\": {\n \"a\": \"x y\"\n}, \"statsigEnvironment\": {\n\t\"tier\": \"prod\"\n}},\n" +
		"   \"value\": \"\\n kept\",\n   \"metadata\": {\n    \"k\": \"v w\",\n    \"n\": [1,\n 2]\n   },\n   \"time\": 1\n  }\n ],\n \"statsigMetadata\": {\n  \"stableID\": \"s\"\n }\n}"
	compact := `{"events":[{"eventName":"e","user":{"userID":"u","custom":{"a":"x y"},"statsigEnvironment":{"tier":"prod"}},"value":"\n kept","metadata":{"k":"v w","n":[1,2]},"time":1}],"statsigMetadata":{"stableID":"s"}}`
	bp, _, err := DecodeRequest([]byte(pretty), RequestInfo{SDKKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	bc, _, err := DecodeRequest([]byte(compact), RequestInfo{SDKKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	ep, ec := bp.Events[0], bc.Events[0]
	if string(ep.Metadata) != `{"k":"v w","n":[1,2]}` || string(ep.Value) != `"\n kept"` ||
		string(ep.User.Custom) != `{"a":"x y"}` || string(ep.User.StatsigEnvironment) != `{"tier":"prod"}` ||
		string(bp.StatsigMetadata) != `{"stableID":"s"}` {
		t.Fatalf("not compacted: metadata %s value %s custom %s env %s batch md %s",
			ep.Metadata, ep.Value, ep.User.Custom, ep.User.StatsigEnvironment, bp.StatsigMetadata)
	}
	if ep.ID != ec.ID {
		t.Errorf("the same event pretty-printed got another ID: %s vs %s", ep.ID, ec.ID)
	}
}

func TestDecodeWebhookTable(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		events  int
		rejects int
		wantErr bool
	}{
		{name: "data envelope", body: `{"data":[{"eventName":"a","timestamp":"1655231253265","timeUUID":"u-1"}]}`, events: 1},
		{name: "bare array", body: `[{"eventName":"a","timestamp":1655231253265}]`, events: 1},
		{name: "no data", body: `{"events":[]}`, wantErr: true},
		{name: "data not an array", body: `{"data":{}}`, wantErr: true},
		{name: "a string", body: `"x"`, wantErr: true},
		{name: "not JSON", body: `{"data":[`, wantErr: true},
		{name: "bad event kept out", body: `{"data":[{"eventName":"a"},{"timestamp":1}]}`, events: 1, rejects: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, rej, err := DecodeWebhook([]byte(tt.body), time.UnixMilli(1), 0)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("accepted: %+v", b)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkBatchInvariants(t, b)
			if len(b.Events) != tt.events || len(rej) != tt.rejects {
				t.Fatalf("%d events %d rejections", len(b.Events), len(rej))
			}
			if b.Source != SourceWebhook {
				t.Errorf("source %q", b.Source)
			}
		})
	}
	b, _, _ := DecodeWebhook([]byte(`{"data":[{"eventName":"a","timestamp":"1655231253265","timeUUID":"u-1"}]}`), time.UnixMilli(1), 0)
	if e := b.Events[0]; e.ID != "u-1" || e.Time != 1655231253265 {
		t.Errorf("webhook event: ID %q time %d", e.ID, e.Time)
	}
}

func TestFlexString(t *testing.T) {
	for in, want := range map[string]string{`"a"`: "a", `12345`: "12345", `1.5e3`: "1.5e3", `true`: "true", `null`: "", `"\u00e9"`: "é"} {
		var s FlexString
		if err := json.Unmarshal([]byte(in), &s); err != nil || string(s) != want {
			t.Errorf("FlexString(%s) = %q, %v; want %q", in, s, err, want)
		}
	}
	for _, in := range []string{`{}`, `[]`} {
		var s FlexString
		if err := json.Unmarshal([]byte(in), &s); err == nil {
			t.Errorf("FlexString(%s) accepted", in)
		}
	}
}
