package warehouse_test

import (
	"reflect"
	"testing"

	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/destination/warehouse"
	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
	wh "github.com/statsig-bridge/statsig-bridge/internal/warehouse"
)

// TestParsedRowsMatchParseTrack holds the rows the Encoder builds from the
// mapped events (Encoded.Parsed, what Writer.WriteParsed loads) to the rows
// read back from the messages it encodes (wh.ParseTrack, what Write
// loads), for every fixture event under several mappings: every column,
// value and type, context_*, dropped names, times.
func TestParsedRowsMatchParseTrack(t *testing.T) {
	lib := mapping.Library{Name: "statsig-bridge", Version: "test"}
	optionSets := []mappingconfig.Options{
		{},
		{Types: statsig.Kinds, Email: mappingconfig.EmailHash, IPAndUserAgent: true, UserTraits: true, SecondaryExposures: true,
			Experiments: []string{"*"}, ExperimentViewed: mappingconfig.ExperimentViewedAlongside, Identify: mappingconfig.IdentifyOnChange},
		{Types: statsig.Kinds, UserTraits: true, ExperimentViewed: mappingconfig.ExperimentViewedInstead, Experiments: []string{"*"}},
	}
	compared, extras := 0, 0
	for _, f := range loadFixtureRequests(t) {
		b := f.decode(t)
		for _, opts := range optionSets {
			enc := warehouse.Encoder{Track: destination.TrackEncoder{Mapper: mapping.New(opts, specs(t, f.Folder), lib)}}
			for i := range b.Events {
				e := enc.Encode(b, &b.Events[i])
				if e.Filtered || e.Invalid {
					if e.Parsed != nil || e.ExtraParsed != nil {
						t.Fatalf("%s event %d: a filtered or invalid event has parsed rows", f.Name, i)
					}
					continue
				}
				compareParsed(t, e.Payload, e.Parsed)
				compared++
				if e.Extra != nil {
					compareParsed(t, e.Extra, e.ExtraParsed)
					extras++
				} else if e.ExtraParsed != nil {
					t.Fatalf("%s event %d: ExtraParsed without Extra", f.Name, i)
				}
			}
		}
	}
	if compared < 100 || extras == 0 {
		t.Fatalf("compared %d messages, %d Experiment Viewed: the fixtures no longer exercise this", compared, extras)
	}
}

func compareParsed(t *testing.T, payload []byte, parsed any) {
	t.Helper()
	want, err := wh.ParseTrack(payload)
	if err != nil {
		t.Fatalf("reading %s: %v", payload, err)
	}
	got, ok := warehouse.ParsedRow(parsed, payload)
	if !ok {
		t.Fatalf("no row built from Parsed (%T) for %s", parsed, payload)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("row built from the mapped event differs from the message read back\n got  %+v\nwant %+v\nmessage %s", got, want, payload)
	}
}
