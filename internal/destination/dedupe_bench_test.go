package destination_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// BenchmarkDedupeFirst is the cost of dedupe_exposures' decision per
// exposure, on a real embedded JetStream bucket, for a fetch of 256
// exposures:
//
//	new:    every key new (first exposures: all claimed, pipelined)
//	repeat: every key claimed before by another process (cache cold:
//	        refused creates, then reads)
//	cached: every key known to this process (no round trip)
//
// Run: go test -run '^$' -bench DedupeFirst ./internal/destination/
func BenchmarkDedupeFirst(b *testing.B) {
	const n = 256
	l := openLog(b)
	ctx := context.Background()
	bucket, err := l.StateBucket(ctx, "DEDUPE", "bench", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	// Keys of the real shape (64 hex digits), made cheaply: the CPU
	// measured is the decision's, not the key derivation's (which
	// BenchmarkExposureKey measures).
	batchKeys := func(round int) ([]string, []string) {
		keys, ids := make([]string, n), make([]string, n)
		for i := range keys {
			k := strconv.Itoa(round) + "x" + strconv.Itoa(i)
			keys[i] = strings.Repeat("0", 64-len(k)) + k
			ids[i] = "id-" + k
		}
		return keys, ids
	}
	var cpu0 time.Duration
	start := func() { cpu0 = cpuTime() }
	// cpu-ns/exposure is this process's CPU (the embedded server's
	// included), which a busy machine moves less than the wall time.
	report := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/exposure")
		b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N*n), "cpu-ns/exposure")
		b.ReportMetric(0, "ns/op")
	}
	// Rounds number the batches of new keys across every run of the
	// sub-benchmarks (-count), so "new" never meets a key it made before.
	round := 0
	b.Run("new", func(b *testing.B) {
		d := destination.NewDedupe(bucket, time.Hour, 0)
		start()
		for b.Loop() {
			b.StopTimer()
			keys, ids := batchKeys(round)
			round++
			b.StartTimer()
			if _, err := d.First(ctx, keys, ids); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
	// put: the same writes without create-if-absent, for comparison: what
	// the log's engine costs per stored key.
	b.Run("put", func(b *testing.B) {
		start()
		for b.Loop() {
			b.StopTimer()
			keys, ids := batchKeys(round)
			vals := make([][]byte, len(ids))
			for i := range ids {
				vals[i] = []byte(ids[i])
			}
			round++
			b.StartTimer()
			if err := bucket.Put(ctx, keys, vals); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
	b.Run("repeat", func(b *testing.B) {
		keys, ids := batchKeys(-1)
		if _, err := destination.NewDedupe(bucket, time.Hour, 0).First(ctx, keys, ids); err != nil {
			b.Fatal(err)
		}
		start()
		for b.Loop() {
			d := destination.NewDedupe(bucket, time.Hour, 0) // another process: nothing cached
			if _, err := d.First(ctx, keys, ids); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
	b.Run("cached", func(b *testing.B) {
		keys, ids := batchKeys(-2)
		d := destination.NewDedupe(bucket, time.Hour, 0)
		if _, err := d.First(ctx, keys, ids); err != nil {
			b.Fatal(err)
		}
		start()
		for b.Loop() {
			if _, err := d.First(ctx, keys, ids); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
}

// BenchmarkExposureKey is the key derivation per exposure (metadata
// members and SHA-256), which every exposure pays when dedupe is on.
func BenchmarkExposureKey(b *testing.B) {
	e := &statsig.Event{EventName: statsig.GateExposure,
		Metadata: []byte(`{"configSyncTime":"1764000000000","configVersion":"3","gate":"load_checkout_gate","gateValue":"true","initTime":"1764000000000","reason":"Network","ruleID":"2qB9xEmployeesRule01","serverTime":"1795540399245"}`)}
	b.ReportAllocs()
	for b.Loop() {
		_ = mapping.ExposureKey(e, "user-000000000001-1")
	}
}
