package warehouse

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"

	"github.com/klauspost/compress/zstd"

	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// refParseTrack is ParseTrack written with encoding/json (a token stream,
// so key order and repeated keys are kept), the reference for FuzzParseTrack.
func refParseTrack(data []byte) (Row, error) {
	var r Row
	var ctxRaw, propsRaw json.RawMessage
	err := refMembers(data, func(key string, raw json.RawMessage) error {
		switch key {
		case "properties":
			propsRaw = raw
		case "context":
			ctxRaw = raw
		case "messageId", "event", "userId", "anonymousId", "timestamp", "originalTimestamp", "receivedAt", "sentAt":
			if string(raw) == "null" {
				return nil
			}
			var s string
			if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
				return fmt.Errorf("%s is not a string", key)
			}
			switch key {
			case "messageId":
				r.ID = s
			case "event":
				r.EventText = s
			case "userId":
				r.UserID = s
			case "anonymousId":
				r.AnonymousID = s
			default:
				ts, ok := parseTime(s)
				if !ok {
					return fmt.Errorf("%s: not a time", key)
				}
				*map[string]*time.Time{"timestamp": &r.Timestamp, "originalTimestamp": &r.OriginalTimestamp,
					"receivedAt": &r.ReceivedAt, "sentAt": &r.SentAt}[key] = ts
			}
		}
		return nil
	})
	if err != nil {
		return Row{}, err
	}
	if r.ID == "" {
		return Row{}, errors.New("no messageId")
	}
	r.Table = TableName(r.EventText)
	seen := map[string]bool{}
	if ctxRaw != nil && string(ctxRaw) != "null" {
		r.Context = []Field{}
		if err := refFlatten(ctxRaw, "context", func(col string, v Value) {
			if col != "" && !seen[col] {
				seen[col] = true
				r.Context = append(r.Context, Field{col, v})
			}
		}); err != nil {
			return Row{}, err
		}
	}
	if propsRaw != nil && string(propsRaw) != "null" {
		r.Properties = []Field{}
		if err := refFlatten(propsRaw, "", func(col string, v Value) {
			switch {
			case seen[col]:
			case col == "" || Reserved(col):
				seen[col] = true
				r.Dropped = append(r.Dropped, col)
			default:
				seen[col] = true
				r.Properties = append(r.Properties, Field{col, v})
			}
		}); err != nil {
			return Row{}, err
		}
	}
	return r, nil
}

// refMembers calls f with each member of the JSON object data, in order.
func refMembers(data []byte, f func(key string, raw json.RawMessage) error) error {
	if !json.Valid(data) {
		return errors.New("invalid JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return errors.New("not an object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		if err := f(tok.(string), raw); err != nil {
			return err
		}
	}
	return nil
}

func refFlatten(raw json.RawMessage, path string, emit func(col string, v Value)) error {
	return refMembers(raw, func(key string, v json.RawMessage) error {
		p := key
		if path != "" {
			p = path + "_" + key
		}
		switch v[0] {
		case '{':
			return refFlatten(v, p, emit)
		case '[':
			var buf bytes.Buffer
			json.Compact(&buf, v)
			emit(column(p), Value{Kind: Array, S: buf.String()})
		case '"':
			var s string
			json.Unmarshal(v, &s)
			emit(column(p), Value{Kind: String, S: s})
		case 't', 'f':
			emit(column(p), Value{Kind: Boolean, B: v[0] == 't'})
		case 'n':
		default:
			emit(column(p), Value{Kind: Number, S: string(v)})
		}
		return nil
	})
}

// trackSeeds are the Track messages the warehouse destination gets for
// every fixture event: each mapped with every identifier and option, with
// receivedAt and sentAt as the destination adds them.
func trackSeeds(t testing.TB) [][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "..", "testdata", "fixtures", "*", "*.body"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	mappers := []*mapping.Mapper{
		mapping.New(mappingconfig.Options{}, nil, mapping.Library{Name: "statsig-bridge", Version: "fuzz"}),
		mapping.New(mappingconfig.Options{Types: statsig.Kinds, Email: mappingconfig.EmailHash, IPAndUserAgent: true, UserTraits: true,
			SecondaryExposures: true, Experiments: []string{"*"}}, nil, mapping.Library{Name: "statsig-bridge", Version: "fuzz"}),
	}
	zr, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var out [][]byte
	for _, p := range paths {
		body, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case bytes.HasPrefix(body, []byte{0x1f, 0x8b}):
			body = gunzipSeed(t, body)
		case bytes.HasPrefix(body, []byte{0x28, 0xb5, 0x2f, 0xfd}):
			if body, err = zr.DecodeAll(body, nil); err != nil {
				t.Fatal(err)
			}
		}
		now := time.UnixMilli(1795541030000)
		b, _, err := statsig.DecodeRequest(body, statsig.RequestInfo{ReceivedAt: now, SDKKey: "k"})
		if err != nil {
			if b, _, err = statsig.DecodeWebhook(body, now, 0); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
		}
		for i := range b.Events {
			for _, m := range mappers {
				res := m.Map(b, &b.Events[i])
				if res.Status != mapping.Mapped {
					continue
				}
				msg := res.Track.AppendJSON(nil)
				msg = append(msg[:len(msg)-1], `,"receivedAt":"2026-11-24T17:23:48.045Z","sentAt":"2026-11-24T17:23:48.5Z"}`...)
				out = append(out, msg)
			}
		}
	}
	return out
}

// FuzzParseTrack holds the warehouse's hand-written message reader to
// encoding/json: it accepts only valid JSON, refuses what the reference
// refuses, and reads the same standard fields and the same flattened
// columns and values, in the same order (strings as encoding/json decodes
// them: invalid UTF-8 becomes U+FFFD, as PostgreSQL text needs).
func FuzzParseTrack(f *testing.F) {
	seeds := trackSeeds(f)
	// Every distinct shape is enough; the fixtures map to many alike.
	slices.SortFunc(seeds, func(a, b []byte) int { return len(a) - len(b) })
	for i, s := range seeds {
		if i%7 == 0 {
			f.Add(s)
		}
	}
	f.Add([]byte(`{"messageId":"m","properties":{"a":{"b":[1, {"c":2}]},"A_b":"x","n":-0.5e+3,"s":"\u00e9\ud800"},"context":null}`))
	f.Add([]byte(`{"messageId":"m","messageId":null,"properties":{"a":1-2}}`))
	f.Add([]byte("{\"messageId\":\"m\",\"properties\":{\"a\":\"\xff\x01\"}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseTrack(data)
		want, refErr := refParseTrack(data)
		if err != nil {
			if refErr == nil {
				t.Fatalf("ParseTrack refused what encoding/json reads: %v\n%q", err, data)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("ParseTrack accepted invalid JSON %q: %+v", data, got)
		}
		if refErr != nil {
			t.Fatalf("ParseTrack accepted what the reference refuses (%v): %q", refErr, data)
		}
		if !reflect.DeepEqual(normalise(got), normalise(want)) {
			t.Fatalf("ParseTrack(%q):\ngot  %+v\nwant %+v", data, got, want)
		}
	})
}

// normalise makes empty and nil slices alike.
func normalise(r Row) Row {
	for _, s := range []*[]Field{&r.Context, &r.Properties} {
		if len(*s) == 0 {
			*s = nil
		}
	}
	if len(r.Dropped) == 0 {
		r.Dropped = nil
	}
	return r
}

func gunzipSeed(t testing.TB, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
