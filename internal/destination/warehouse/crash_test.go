package warehouse_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/statsig-bridge/statsig-bridge/internal/delivery"
	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/destination/warehouse"
	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
	"github.com/statsig-bridge/statsig-bridge/internal/queue"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

const destName = "warehouse"

// crashAfterLoad loads the first batch, then never returns until the
// runner gives up on it: the rows are committed but the log message is
// never acked, as when the process dies between the two.
type crashAfterLoad struct {
	destination.Writer
	once    sync.Once
	crashed chan struct{}
}

func (c *crashAfterLoad) Write(ctx context.Context, p [][]byte) error {
	first := false
	c.once.Do(func() { first = true })
	if !first {
		return c.Writer.Write(ctx, p)
	}
	if err := c.Writer.Write(ctx, p); err != nil {
		return err
	}
	close(c.crashed)
	<-ctx.Done()
	return ctx.Err()
}

// countingWriter counts the items it is given.
type countingWriter struct {
	destination.Writer
	items atomic.Int64
}

func (c *countingWriter) Write(ctx context.Context, p [][]byte) error {
	err := c.Writer.Write(ctx, p)
	if err == nil {
		c.items.Add(int64(len(p)))
	}
	return err
}

// startRunner runs the warehouse destination over l until stop is called.
func startRunner(t testing.TB, l *queue.Log, w destination.Writer, ackWait time.Duration) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cons, err := l.Consumer(ctx, destName, queue.ConsumerOptions{AckWait: ackWait})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	r := destination.NewRunner(destination.Config{
		Name:   destName,
		Writer: w,
		Encoder: warehouse.Encoder{Track: destination.TrackEncoder{
			Mapper: mapping.New(mappingconfig.Options{}, nil, mapping.Library{Name: "statsig-bridge", Version: "test"}),
		}},
		Consumer: cons,
		Log:      l,
		Metrics:  destination.NewMetrics(prometheus.NewRegistry()),
		Logger:   testLogger(),
		Options: delivery.Options{
			FlushInterval: 50 * time.Millisecond,
			Retry:         delivery.RetryPolicy{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond},
		},
		AckWait:      ackWait,
		DrainTimeout: 300 * time.Millisecond,
	})
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Error("Run did not return within 15s")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// TestCrashBetweenLoadAndAckAddsNoRows: the rows of a batch are committed,
// the bridge dies before acking its log message, the restarted bridge gets
// the message again and loads it again: no new rows.
func TestCrashBetweenLoadAndAckAddsNoRows(t *testing.T) {
	t.Parallel() // its own log, SQLite file and Postgres schema
	eachDB(t, func(t *testing.T, d *db) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		l, err := queue.Open(ctx, queue.Config{DataDir: t.TempDir()}, testLogger())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		const ackWait = time.Second
		const n = 40
		evs := make([]statsig.Event, n)
		for i := range evs {
			evs[i] = statsig.Event{ID: fmt.Sprintf("crash-%d", i), EventName: "add_to_cart", Time: 1795534342000,
				User: &statsig.User{UserID: statsig.FlexString(fmt.Sprintf("u%d", i%7))}, Metadata: json.RawMessage(`{"sku":"S"}`)}
		}
		data, _ := json.Marshal(statsig.Batch{ID: "crash-batch", Source: statsig.SourceSDK, ReceivedAt: time.Now().UnixMilli(), SDKType: "test", Events: evs})
		if _, err := l.Publish(ctx, data, "crash-batch"); err != nil {
			t.Fatal(err)
		}

		crash := &crashAfterLoad{Writer: d.open(t), crashed: make(chan struct{})}
		stop := startRunner(t, l, crash, ackWait)
		select {
		case <-crash.crashed:
		case <-ctx.Done():
			t.Fatal("the first runner never loaded the batch")
		}
		stop() // the "crash": the message stays unacked
		if got := d.count(t, "tracks"); got != n {
			t.Fatalf("after the first load tracks has %d rows, want %d", got, n)
		}

		w2 := &countingWriter{Writer: d.open(t)} // a restarted bridge: a new writer
		startRunner(t, l, w2, ackWait)
		testwait.For(t, 20*time.Second, "the restarted runner to ack the redelivered batch", func() bool {
			c, err := l.Consumer(ctx, destName, queue.ConsumerOptions{AckWait: ackWait})
			if err != nil {
				return false
			}
			pending, ackPending, err := c.Lag(ctx)
			return err == nil && pending == 0 && ackPending == 0
		})
		if w2.items.Load() != n {
			t.Errorf("the restarted runner loaded %d events, want the %d redelivered", w2.items.Load(), n)
		}
		if got := d.count(t, "tracks"); got != n {
			t.Errorf("after redelivery tracks has %d rows, want %d", got, n)
		}
		if got := d.count(t, "add_to_cart"); got != n {
			t.Errorf("after redelivery add_to_cart has %d rows, want %d", got, n)
		}
	})
}
