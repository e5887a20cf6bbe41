package queue

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// BenchmarkPublish measures intake throughput: many goroutines (as many
// concurrent HTTP requests) publishing 10 KB batches and each waiting for
// its own store ack.
func BenchmarkPublish(b *testing.B) {
	for _, sync := range []bool{false, true} {
		name := "default"
		if sync {
			name = "sync_always"
		}
		b.Run(name, func(b *testing.B) {
			cfg := embeddedBackend(b)
			cfg.SyncAlways = sync
			l := openLog(b, cfg)
			data := bytes.Repeat([]byte("e"), 10<<10)
			ctx := context.Background()
			b.SetBytes(int64(len(data)))
			b.SetParallelism(32) // 32 × GOMAXPROCS publishers
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := l.Publish(ctx, data, ""); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
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
