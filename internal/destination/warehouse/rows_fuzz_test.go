package warehouse_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/destination/warehouse"
	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"
	"github.com/statsig-bridge/statsig-bridge/internal/segment"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
	wh "github.com/statsig-bridge/statsig-bridge/internal/warehouse"
)

// FuzzTrackRow holds the row built from a mapped Track (what the
// warehouse loads) to the reference: the Track written as the Encoder
// writes it and read back with wh.ParseTrack (itself fuzzed against
// encoding/json). Any strings (invalid UTF-8, escapes, U+2028), times of
// any year and precision, and any valid JSON as context and properties (the
// mapping only makes objects; other values must fail both ways). Seeded
// with every fixture event's mapped Track.
func FuzzTrackRow(f *testing.F) {
	lib := mapping.Library{Name: "statsig-bridge", Version: "fuzz"}
	mappers := []mappingconfig.Options{{}, {Types: statsig.Kinds, Email: mappingconfig.EmailHash, IPAndUserAgent: true, UserTraits: true,
		SecondaryExposures: true, Experiments: []string{"*"}}}
	n := 0
	for _, fr := range loadFixtureRequests(f) {
		b := fr.decode(f)
		for _, opts := range mappers {
			m := mapping.New(opts, specs(f, fr.Folder), lib)
			for i := range b.Events {
				res := m.Map(b, &b.Events[i])
				if res.Status != mapping.Mapped {
					continue
				}
				if n++; n%5 != 0 {
					continue // the fixtures map to many alike
				}
				tr := res.Track
				f.Add(tr.MessageID, tr.Event, tr.UserID, tr.AnonymousID, tr.Timestamp.Unix(), int64(tr.Timestamp.Nanosecond()),
					tr.OriginalTimestamp.Unix(), int64(tr.OriginalTimestamp.Nanosecond()), []byte(tr.Context), []byte(tr.Properties),
					b.ReceivedAt, b.ClientTime)
			}
		}
	}
	f.Add("m\xff\xfe", "Ev\u2028\"ent\x01", "", "a\\b", int64(-62135596801), int64(999_999_999), int64(253402300800), int64(0),
		[]byte(`{"a":{"b":[1, {"c":2}]},"A_b":"x","n":-0.5e+3,"s":"\u00e9\ud800"}`), []byte(`{"id":1,"context_x":2,"":3,"a":null}`),
		int64(253402300799999), int64(1))
	f.Add("m\xff\xfe", "Ev\u2028\"ent\x01", "", "a\\b\xc0", int64(1795541030), int64(999_999_999), int64(-62167219200), int64(1),
		[]byte(`{"a":{"b":[1, {"c":2}]},"A_b":"x","n":-0.5e+3,"s":"\u00e9\ud800"}`), []byte(`{"id":1,"context_x":2,"":3,"a":null}`),
		int64(253402300799999), int64(1))
	f.Add("m", "e", "u", "", int64(0), int64(0), int64(-62167219200), int64(1), []byte(`null`), []byte(`[1]`), int64(0), int64(-5))
	f.Add("m", "e", "u", "", int64(-62167219201), int64(0), int64(0), int64(0), []byte(`{}`), []byte(`{}`), int64(0), int64(0))
	f.Fuzz(func(t *testing.T, id, event, userID, anonID string, tsSec, tsNsec, otsSec, otsNsec int64,
		ctx, props []byte, receivedAt, clientTime int64) {
		tr := segment.Track{MessageID: id, Event: event, UserID: userID, AnonymousID: anonID,
			Integrations: json.RawMessage(`{"All":true}`)}
		if tsSec != 0 || tsNsec != 0 {
			tr.Timestamp = time.Unix(tsSec, tsNsec)
		}
		if otsSec != 0 || otsNsec != 0 {
			tr.OriginalTimestamp = time.Unix(otsSec, otsNsec).In(time.FixedZone("x", 3600))
		}
		// The mapping writes context and properties as JSON values: other
		// bytes would make a message no reader could split.
		if json.Valid(ctx) {
			tr.Context = ctx
		}
		if json.Valid(props) {
			tr.Properties = props
		}
		b := &statsig.Batch{ReceivedAt: receivedAt, ClientTime: clientTime}
		msg := tr.AppendJSON(nil)
		kept := warehouse.KeepMapped(b, &tr, msg)
		msg = warehouse.AppendTimes(msg, b)
		want, wantErr := wh.ParseTrack(msg)
		got, err := warehouse.TrackRow(&tr, b.ReceivedAt, b.ClientTime)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("built: err %v; read back: err %v\nmessage %s", err, wantErr, msg)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("built row differs from the message read back\n got  %+v\nwant %+v\nmessage %s", got, want, msg)
		}
		// What the Writer does: the row from the kept Track and the
		// context and properties found in the message.
		if kept == nil {
			t.Fatalf("context and properties not found in the message %s", msg)
		}
		got, ok := warehouse.ParsedRow(kept, msg)
		if ok != (wantErr == nil) || ok && !reflect.DeepEqual(got, want) {
			t.Fatalf("row from the kept Track (built %v) differs from the message read back (err %v)\n got  %+v\nwant %+v\nmessage %s", ok, wantErr, got, want, msg)
		}
	})
}
