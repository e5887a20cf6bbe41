package destination_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/statsig-bridge/statsig-bridge/internal/cpupressure"
	"github.com/statsig-bridge/statsig-bridge/internal/cpupressure/pressuretest"
	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/queue"
	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// The priority tests do not run in parallel: they take every core.

// requests marks intake as running every interval, as intake requests
// do, until stop is called (also at cleanup).
func requests(t *testing.T, every time.Duration) (intake *cpupressure.Activity, stop func()) {
	intake = &cpupressure.Activity{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			intake.Mark(time.Now())
			select {
			case <-ctx.Done():
			case <-time.After(every):
			}
		}
	}()
	stop = sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(stop)
	return intake, stop
}

// slow makes recv answer each batch after d: a streaming destination that
// keeps handing batches to its workers for a while.
func slow(recv *receiver, d time.Duration) {
	recv.Respond(func([]string) int { time.Sleep(d); return 200 })
}

func backlog(t *testing.T, l *queue.Log, messages, per int) {
	for m := range messages {
		publish(t, l, fmt.Sprintf("batch-%d", m), events(fmt.Sprintf("ev%02d", m), per, 10))
	}
}

func yielded(t *testing.T, m *destination.Metrics, name string) float64 {
	var v dto.Metric
	if err := m.Yielded.WithLabelValues(name).Write(&v); err != nil {
		t.Fatal(err)
	}
	return v.GetCounter().GetValue()
}

// TestWarehouseGivesWayUnderPressure: while a streaming destination works
// and the process's goroutines wait for a CPU, a warehouse with max_lag
// loads nothing and says it is waiting; once the CPU is free again it
// loads everything.
func TestWarehouseGivesWayUnderPressure(t *testing.T) {
	l := openLog(t)
	const messages, per = 40, 100
	backlog(t, l, messages, per)
	stop := pressuretest.Spin(t)
	prio := destination.NewPriority(nil)
	streamRecv, whRecv := newReceiver(t), newReceiver(t)
	slow(streamRecv, 20*time.Millisecond)
	startRunner(t, l, streamRecv, runnerOptions{Name: "segment", Priority: prio, Streaming: true, MaxBatchItems: 20, Concurrency: 4})
	testwait.For(t, 20*time.Second, "the streaming destination busy", func() bool { return prio.Foreground(time.Now()) })

	metrics := destination.NewMetrics(prometheus.NewRegistry())
	wh := startRunner(t, l, whRecv, runnerOptions{Name: "warehouse", Priority: prio, MaxLag: time.Hour, Metrics: metrics})
	testwait.For(t, 20*time.Second, "the warehouse waiting", wh.Runner.Yielding)
	testwait.For(t, 60*time.Second, "half the backlog streamed", func() bool { return streamRecv.Unique() >= messages*per/2 })
	if n := whRecv.Unique(); n != 0 {
		t.Fatalf("the warehouse loaded %d events while the streaming destination waited for a CPU", n)
	}
	stop()
	testwait.For(t, 60*time.Second, "the warehouse loading everything once the CPU is free", func() bool {
		return whRecv.Unique() == messages*per
	})
	if wh.Runner.Yielding() {
		t.Error("the warehouse still says it is waiting after loading everything")
	}
	if s := yielded(t, metrics, "warehouse"); s <= 0 {
		t.Errorf("yielded_seconds_total = %v, want the time it waited", s)
	}
}

// TestWarehouseGivesWayToIntake: intake marked as running counts as
// foreground work, as a streaming destination does.
func TestWarehouseGivesWayToIntake(t *testing.T) {
	l := openLog(t)
	const messages, per = 200, 10 // more than a few fetches: it is behind when it waits
	backlog(t, l, messages, per)
	intake, stopIntake := requests(t, 10*time.Millisecond)
	pressuretest.Spin(t)
	prio := destination.NewPriority(intake)
	testwait.For(t, 20*time.Second, "intake busy", func() bool { return prio.Foreground(time.Now()) })
	whRecv := newReceiver(t)
	wh := startRunner(t, l, whRecv, runnerOptions{Name: "warehouse", Priority: prio, MaxLag: time.Hour})
	testwait.For(t, 20*time.Second, "the warehouse waiting", wh.Runner.Yielding)
	if n := whRecv.Unique(); n == messages*per {
		t.Fatalf("the warehouse loaded all %d events before it waited", n)
	}
	stopIntake() // nothing to give way to
	testwait.For(t, 30*time.Second, "the warehouse loading everything", func() bool { return whRecv.Unique() == messages*per })
}

// TestWarehouseLoadsOnceMaxLagBehind: foreground work that keeps every
// core busy cannot hold the warehouse back beyond max_lag.
func TestWarehouseLoadsOnceMaxLagBehind(t *testing.T) {
	l := openLog(t)
	const messages, per = 60, 100
	backlog(t, l, messages, per)
	prio := destination.NewPriority(nil)
	streamRecv, whRecv := newReceiver(t), newReceiver(t)
	slow(streamRecv, 200*time.Millisecond) // 4 × 20 events / 200 ms: 30 s for the backlog
	stream := startRunner(t, l, streamRecv, runnerOptions{Name: "segment", Priority: prio, Streaming: true, MaxBatchItems: 20, Concurrency: 4})
	testwait.For(t, 20*time.Second, "the streaming destination delivering", func() bool { return streamRecv.Unique() > 0 })
	pressuretest.Spin(t)
	startRunner(t, l, whRecv, runnerOptions{Name: "warehouse", Priority: prio, MaxLag: 300 * time.Millisecond})
	testwait.For(t, 30*time.Second, "the warehouse loading everything", func() bool { return whRecv.Unique() == messages*per })
	if n := streamRecv.Unique(); n == messages*per {
		t.Fatal("the streaming destination finished first: the test proves nothing")
	}
	stream.Stop(t)
}

// TestWarehouseDoesNotWaitWithoutForeground: CPU taken by work that is not
// intake or streaming delivery (here spinning goroutines; a failing
// streaming destination, whose workers retry and hand out nothing) is
// nothing to give way to.
func TestWarehouseDoesNotWaitWithoutForeground(t *testing.T) {
	l := openLog(t)
	const messages, per = 30, 100
	backlog(t, l, messages, per)
	prio := destination.NewPriority(nil)
	streamRecv, whRecv := newReceiver(t), newReceiver(t)
	streamRecv.Respond(func([]string) int { return 503 })
	stream := startRunner(t, l, streamRecv, runnerOptions{Name: "segment", Priority: prio, Streaming: true, MaxBatchItems: 20, Concurrency: 2})
	testwait.For(t, 20*time.Second, "the streaming destination failing", func() bool { return len(streamRecv.Requests()) > 0 })
	pressuretest.Spin(t)
	startRunner(t, l, whRecv, runnerOptions{Name: "warehouse", Priority: prio, MaxLag: time.Hour})
	testwait.For(t, 30*time.Second, "the warehouse loading everything", func() bool { return whRecv.Unique() == messages*per })
	if n := streamRecv.Unique(); n != 0 {
		t.Fatalf("the failing destination delivered %d events", n)
	}
	stream.Stop(t)
}

// TestWarehouseDoesNotWaitForATrickle: a request every 300 ms is not busy
// intake, even with every core taken (here, in production by the warehouse
// catching up): the warehouse loads on. Were it to wait, it would wait out
// its hour of max_lag.
func TestWarehouseDoesNotWaitForATrickle(t *testing.T) {
	l := openLog(t)
	const messages, per = 200, 10
	backlog(t, l, messages, per)
	intake, _ := requests(t, 300*time.Millisecond)
	pressuretest.Spin(t)
	whRecv := newReceiver(t)
	metrics := destination.NewMetrics(prometheus.NewRegistry())
	startRunner(t, l, whRecv, runnerOptions{Name: "warehouse", Priority: destination.NewPriority(intake), MaxLag: time.Hour, Metrics: metrics})
	testwait.For(t, 30*time.Second, "the warehouse loading everything", func() bool { return whRecv.Unique() == messages*per })
	if s := yielded(t, metrics, "warehouse"); s != 0 {
		t.Errorf("yielded %.2fs to a trickle", s)
	}
}
