package queue

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// BenchmarkPublish measures intake throughput: many goroutines (as many
// concurrent HTTP requests) publishing batches and each waiting for its own
// store ack, then one consumer reading them all back (Data: decompressed).
// "json" is a real Go SDK request (147 events, 73 KB: SDK batches compress
// 5–8×), "random" an incompressible 64 KB, stored as it is. cpu-ns/op is the
// process's CPU per batch (the embedded server's included).
func BenchmarkPublish(b *testing.B) {
	sdk, err := os.ReadFile(filepath.Join("..", "..", "testdata", "fixtures", "go-sdk-layers", "log_event-2.json"))
	if err != nil {
		b.Fatal(err)
	}
	for _, data := range []struct {
		name  string
		bytes []byte
	}{{"json", sdk}, {"random", incompressible(7, 64<<10)}} {
		for _, sync := range []bool{false, true} {
			name := data.name + "/default"
			if sync {
				name = data.name + "/sync_always"
			}
			b.Run(name, func(b *testing.B) { benchPublish(b, data.bytes, sync) })
		}
	}
}

func benchPublish(b *testing.B, data []byte, sync bool) {
	cfg := embeddedBackend(b)
	cfg.SyncAlways = sync
	l := openLog(b, cfg)
	c := openConsumer(b, l, "bench", ConsumerOptions{MaxAckPending: 100_000})
	ctx := context.Background()
	b.SetBytes(int64(len(data)))
	b.SetParallelism(32) // 32 × GOMAXPROCS publishers
	cpu0 := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.Publish(ctx, data, ""); err != nil {
				b.Error(err)
				return
			}
		}
	})
	for read := 0; read < b.N; {
		msgs, err := c.Fetch(ctx, 256, time.Second)
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range msgs {
			if got, err := m.Data(); err != nil || len(got) != len(data) {
				b.Fatalf("read back %d bytes, %v; want %d", len(got), err, len(data))
			}
			if err := m.Ack(ctx); err != nil {
				b.Fatal(err)
			}
		}
		read += len(msgs)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/1e6, "heap-MB")
}

// BenchmarkAck compares Message.Ack (a confirmed double ack) with JetStream's
// fire-and-forget ack, to justify paying for the confirmation.
func BenchmarkAck(b *testing.B) {
	for _, mode := range []string{"double", "plain"} {
		b.Run(mode, func(b *testing.B) {
			l := openLog(b, embeddedBackend(b))
			c := openConsumer(b, l, "bench", ConsumerOptions{MaxAckPending: 100_000})
			ctx := context.Background()
			data := bytes.Repeat([]byte("e"), 1<<10)
			for range b.N {
				if _, err := l.Publish(ctx, data, ""); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for acked := 0; acked < b.N; {
				msgs, err := c.Fetch(ctx, min(500, b.N-acked), time.Second)
				if err != nil {
					b.Fatal(err)
				}
				for _, m := range msgs {
					if mode == "double" {
						err = m.Ack(ctx)
					} else {
						err = m.msg.Ack()
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				acked += len(msgs)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
