package statsig

import (
	"testing"
	"time"
)

// BenchmarkDecodeRequest decodes the fixtures' SDK bodies as intake does
// (the scanner, event IDs included), per event.
func BenchmarkDecodeRequest(b *testing.B) {
	bodies := hotPathFixtureBodies(b)
	info := RequestInfo{ReceivedAt: time.UnixMilli(1_800_000_000_000), SDKKey: "k"}
	events := 0
	for _, body := range bodies {
		bt, _, err := DecodeRequest(body, info)
		if err != nil {
			b.Fatal(err)
		}
		events += len(bt.Events)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, body := range bodies {
			if _, _, err := DecodeRequest(body, info); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*events), "ns/event")
}
