package destination_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// slow makes recv answer each batch after d: a streaming destination whose
// delivery keeps its fetch loop busy with a backlog.
func slow(recv *receiver, d time.Duration) {
	recv.Respond(func([]string) int { time.Sleep(d); return 200 })
}

// TestWarehouseGivesWayToStreamingDestination: while a streaming
// destination works through a backlog, a background destination (a
// warehouse with max_lag) loads nothing and says it is waiting; once the
// streaming one has caught up it loads everything.
func TestWarehouseGivesWayToStreamingDestination(t *testing.T) {
	t.Parallel()
	l := openLog(t)
	const messages, per = 60, 100
	for m := range messages {
		publish(t, l, fmt.Sprintf("batch-%d", m), events(fmt.Sprintf("ev%02d", m), per, 10))
	}
	prio := destination.NewPriority()
	streamRecv, whRecv := newReceiver(t), newReceiver(t)
	slow(streamRecv, 20*time.Millisecond)
	startRunner(t, l, streamRecv, runnerOptions{Name: "segment", Priority: prio, Streaming: true, MaxBatchItems: 20, Concurrency: 4})
	testwait.For(t, 20*time.Second, "the streaming destination delivering", func() bool { return streamRecv.Unique() > 0 })

	metrics := destination.NewMetrics(prometheus.NewRegistry())
	wh := startRunner(t, l, whRecv, runnerOptions{Name: "warehouse", Priority: prio, MaxLag: time.Hour, Metrics: metrics})
	testwait.For(t, 20*time.Second, "the warehouse waiting for streaming", wh.Runner.Yielding)
	// Half way through the streaming backlog the warehouse has loaded
	// nothing: it has not fetched since it started.
	testwait.For(t, 60*time.Second, "half the backlog streamed", func() bool { return streamRecv.Unique() >= messages*per/2 })
	if n := whRecv.Unique(); n != 0 {
		t.Fatalf("the warehouse loaded %d events while the streaming destination was catching up", n)
	}
	testwait.For(t, 60*time.Second, "the warehouse loading everything once streaming caught up", func() bool {
		return streamRecv.Unique() == messages*per && whRecv.Unique() == messages*per
	})
	if wh.Runner.Yielding() {
		t.Error("the warehouse still says it is waiting after loading everything")
	}
	var m dto.Metric
	if err := metrics.Yielded.WithLabelValues("warehouse").Write(&m); err != nil {
		t.Fatal(err)
	}
	if s := m.GetCounter().GetValue(); s <= 0 {
		t.Errorf("yielded_seconds_total = %v, want the time it waited", s)
	}
}

// TestWarehouseLoadsOnceMaxLagBehind: a streaming destination that stays
// busy cannot hold the warehouse back beyond max_lag.
func TestWarehouseLoadsOnceMaxLagBehind(t *testing.T) {
	t.Parallel()
	l := openLog(t)
	const messages, per = 60, 100
	for m := range messages {
		publish(t, l, fmt.Sprintf("batch-%d", m), events(fmt.Sprintf("ev%02d", m), per, 10))
	}
	prio := destination.NewPriority()
	streamRecv, whRecv := newReceiver(t), newReceiver(t)
	slow(streamRecv, 200*time.Millisecond) // 4 × 20 events / 200 ms: 30 s for the backlog
	stream := startRunner(t, l, streamRecv, runnerOptions{Name: "segment", Priority: prio, Streaming: true, MaxBatchItems: 20, Concurrency: 4})
	testwait.For(t, 20*time.Second, "the streaming destination delivering", func() bool { return streamRecv.Unique() > 0 })
	startRunner(t, l, whRecv, runnerOptions{Name: "warehouse", Priority: prio, MaxLag: 300 * time.Millisecond})
	testwait.For(t, 20*time.Second, "the warehouse loading everything", func() bool { return whRecv.Unique() == messages*per })
	if n := streamRecv.Unique(); n == messages*per {
		t.Fatal("the streaming destination finished first: the test proves nothing")
	}
	stream.Stop(t)
}

// TestWarehouseDoesNotWaitForStuckDestination: a streaming destination
// whose target fails (its workers retrying, its fetch loop stopped) is
// not busy: the warehouse loads beside it.
func TestWarehouseDoesNotWaitForStuckDestination(t *testing.T) {
	t.Parallel()
	l := openLog(t)
	const messages, per = 30, 100
	for m := range messages {
		publish(t, l, fmt.Sprintf("batch-%d", m), events(fmt.Sprintf("ev%02d", m), per, 10))
	}
	prio := destination.NewPriority()
	streamRecv, whRecv := newReceiver(t), newReceiver(t)
	streamRecv.Respond(func([]string) int { return 503 })
	stream := startRunner(t, l, streamRecv, runnerOptions{Name: "segment", Priority: prio, Streaming: true, MaxBatchItems: 20, Concurrency: 2})
	testwait.For(t, 20*time.Second, "the streaming destination failing", func() bool { return len(streamRecv.Requests()) > 0 })
	startRunner(t, l, whRecv, runnerOptions{Name: "warehouse", Priority: prio, MaxLag: time.Hour})
	testwait.For(t, 30*time.Second, "the warehouse loading everything", func() bool { return whRecv.Unique() == messages*per })
	if n := streamRecv.Unique(); n != 0 {
		t.Fatalf("the failing destination delivered %d events", n)
	}
	stream.Stop(t)
}
