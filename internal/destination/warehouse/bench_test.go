package warehouse_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"

	"github.com/statsig-bridge/statsig-bridge/internal/warehouse"
)

// benchPayloads are the fixtures' messages (exposures of every kind and
// custom events, 11 event tables) as the warehouse encoder makes them.
func benchPayloads(b *testing.B) [][]byte {
	var out [][]byte
	for _, f := range loadFixtureRequests(b) {
		out = append(out, encodeFixture(b, f, mappingconfig.Options{})...)
	}
	return out
}

// benchIDs is the messageId of each payload.
func benchIDs(b *testing.B, payloads [][]byte) []string {
	ids := make([]string, len(payloads))
	for i, p := range payloads {
		r, err := warehouse.ParseTrack(p)
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = r.ID
	}
	return ids
}

// benchLoad loads batches of size messages with fresh messageIds from
// workers goroutines at once (the runner's delivery.concurrency); each
// message is a row in its event table and, on Postgres, one in tracks.
func benchLoad(b *testing.B, d *db, size, workers int) {
	base := benchPayloads(b)
	ids := benchIDs(b, base)
	w := d.open(b)
	ctx := context.Background()
	// Create the tables and columns first: the benchmark measures loading.
	if err := w.Write(ctx, base); err != nil {
		b.Fatal(err)
	}
	var seq atomic.Int64
	batch := func() [][]byte {
		out := make([][]byte, size)
		for i := range out {
			n := int(seq.Add(1))
			k := n % len(base)
			out[i] = bytes.Replace(base[k], []byte(ids[k]), fmt.Appendf(nil, "bench-%012d", n), 1)
		}
		return out
	}
	// Batches are made before the clock starts: the runner has them from
	// the log, mapped, when it calls Write.
	batches := make([][][]byte, b.N)
	for i := range batches {
		batches[i] = batch()
	}
	var next atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				if err := w.Write(ctx, batches[i]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	events := float64(b.N * size)
	// Events, not rows: SQLite's tracks is a view, so an event is one row
	// written there and two on Postgres.
	b.ReportMetric(events/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkLoadSQLite(b *testing.B) {
	for _, size := range []int{1000, 2500} {
		for _, workers := range []int{1, 4} {
			b.Run(fmt.Sprintf("batch=%d/workers=%d", size, workers), func(b *testing.B) { benchLoad(b, sqliteDB(b), size, workers) })
		}
	}
}

func BenchmarkLoadPostgres(b *testing.B) {
	for _, size := range []int{1000, 2500} {
		for _, workers := range []int{1, 4} {
			b.Run(fmt.Sprintf("batch=%d/workers=%d", size, workers), func(b *testing.B) { benchLoad(b, postgresDB(b), size, workers) })
		}
	}
}

// BenchmarkParseTrack is the CPU of reading one message into a row.
func BenchmarkParseTrack(b *testing.B) {
	base := benchPayloads(b)
	b.ResetTimer()
	for i := range b.N {
		if _, err := warehouse.ParseTrack(base[i%len(base)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedeliverSQLite loads batches of 1,000 messages that are all
// loaded already (a replay of the log, or a redelivery after a crash) into
// a warehouse holding 20,000 events: what a duplicate costs.
func BenchmarkRedeliverSQLite(b *testing.B) {
	base := benchPayloads(b)
	ids := benchIDs(b, base)
	const size, loaded = 1000, 20
	batches := make([][][]byte, loaded)
	for j := range batches {
		for i := range size {
			n := j*size + i
			k := n % len(base)
			batches[j] = append(batches[j], bytes.Replace(base[k], []byte(ids[k]), fmt.Appendf(nil, "bench-%012d", n), 1))
		}
	}
	w := sqliteDB(b).open(b)
	ctx := context.Background()
	for _, batch := range batches {
		if err := w.Write(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		if err := w.Write(ctx, batches[i%loaded]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
}
