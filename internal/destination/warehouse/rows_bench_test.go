package warehouse_test

import (
	"testing"

	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/destination/warehouse"
	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
	wh "github.com/statsig-bridge/statsig-bridge/internal/warehouse"
)

// BenchmarkEventToRow is the CPU from a decoded event to its warehouse
// row, for the fixtures' events: "json" as before (the Track written as
// JSON with receivedAt/sentAt, then read back with ParseTrack), "direct"
// as the Encoder does now (the JSON is still written, for the debugger and
// dead letters, and the row built from the mapped Track).
func BenchmarkEventToRow(b *testing.B) {
	type ev struct {
		b *statsig.Batch
		i int
	}
	var evs []ev
	var mappers []*mapping.Mapper
	for _, f := range loadFixtureRequests(b) {
		batch := f.decode(b)
		m := mapping.New(mappingconfig.Options{}, specs(b, f.Folder), mapping.Library{Name: "statsig-bridge", Version: "bench"})
		for i := range batch.Events {
			evs = append(evs, ev{batch, i})
			mappers = append(mappers, m)
		}
	}
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for n := 0; b.Loop(); n++ {
			k := n % len(evs)
			e := destination.TrackEncoder{Mapper: mappers[k], Room: warehouse.TimesRoom}.Encode(evs[k].b, &evs[k].b.Events[evs[k].i])
			if e.Filtered || e.Invalid {
				continue
			}
			if _, err := wh.ParseTrack(warehouse.AppendTimes(e.Payload, evs[k].b)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for n := 0; b.Loop(); n++ {
			k := n % len(evs)
			e := warehouse.Encoder{Track: destination.TrackEncoder{Mapper: mappers[k], Room: warehouse.TimesRoom}}.Encode(evs[k].b, &evs[k].b.Events[evs[k].i])
			if e.Filtered || e.Invalid {
				continue
			}
			if _, ok := warehouse.ParsedRow(e.Parsed, e.Payload); !ok {
				b.Fatal("no row")
			}
		}
	})
}
