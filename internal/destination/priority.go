package destination

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/cpupressure"
	"github.com/statsig-bridge/statsig-bridge/internal/queue"
)

// Priority runs warehouses at a lower priority than the rest of the bridge.
// A warehouse row costs several times the CPU of a Segment message (two
// rows, their indexes, a commit): on two cores a SQLite warehouse loading
// at full speed beside Segment more than halved intake and Segment
// delivery. Segment's own warehouses load once to 24 times a day; a
// warehouse here may lag too, within a bound its operator sets
// (warehouse.max_lag).
//
// A background runner (Config.MaxLag > 0) waits before each fetch while
// foreground work is busy (intake requests, or a streaming destination
// handing batches to its workers, in at least half of the last second)
// and the process's goroutines wait for a CPU (cpupressure). It stops
// waiting once it is MaxLag behind the log, and keeps loading while it is
// that far behind. A streaming destination that is down or paused hands
// out no batches, a trickle of requests is not busy, and CPU taken by
// other processes is not this process's goroutines waiting: none of them
// holds the warehouse back. A runner learns its lag from its fetches: one
// started under pressure counts its lag from its start.
type Priority struct {
	intake   *cpupressure.Activity
	pressure *cpupressure.Gauge

	mu        sync.Mutex
	streaming []*fetchProgress
}

// NewPriority returns a Priority that counts intake as foreground work
// when intake is marked (nil: only streaming destinations count).
func NewPriority(intake *cpupressure.Activity) *Priority {
	if intake == nil {
		intake = &cpupressure.Activity{}
	}
	return &Priority{intake: intake, pressure: cpupressure.New()}
}

// yieldPoll is how often a waiting runner looks again.
const yieldPoll = 20 * time.Millisecond

// fetchProgress is what one runner's fetches saw last.
type fetchProgress struct {
	// activeAt marks when the runner handed a batch to a worker.
	activeAt cpupressure.Activity
	// polledAt is when a fetch last returned (Unix ns).
	polledAt atomic.Int64
	// pending is the batches the log had left for the runner then.
	pending atomic.Int64
	// storedAt is when the log stored the last batch fetched (Unix ns).
	storedAt atomic.Int64
	// caughtUp says the last fetch left nothing behind in the log.
	caughtUp atomic.Bool
}

// saw records a fetch's batches.
func (p *fetchProgress) saw(msgs []*queue.Message, now time.Time) {
	p.polledAt.Store(now.UnixNano())
	if len(msgs) == 0 {
		p.pending.Store(0)
		p.caughtUp.Store(true)
		return
	}
	last := msgs[len(msgs)-1]
	p.pending.Store(int64(last.Pending()))
	p.storedAt.Store(last.StoredAt().UnixNano())
	p.caughtUp.Store(last.Pending() == 0)
}

// lag bounds how far behind the log the runner is: the age of the last
// batch it fetched if more were waiting then, else the time since its last
// fetch (anything stored since is younger). Run starts the clock as a
// fetch that found nothing, so a runner that starts far behind while the
// rest is busy learns it within max_lag.
func (p *fetchProgress) lag(now time.Time) time.Duration {
	if p.pending.Load() > 0 && p.storedAt.Load() != 0 {
		return now.Sub(time.Unix(0, p.storedAt.Load()))
	}
	return now.Sub(time.Unix(0, p.polledAt.Load()))
}

func (pr *Priority) add(p *fetchProgress) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.streaming = append(pr.streaming, p)
}

// Foreground says whether intake or a streaming destination is busy: it
// ran in at least half of the last second (cpupressure.Activity).
func (pr *Priority) Foreground(now time.Time) bool {
	if pr.intake.Busy(now) {
		return true
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	for _, p := range pr.streaming {
		if p.activeAt.Busy(now) {
			return true
		}
	}
	return false
}

// background says whether r gives way to the rest of the bridge.
func (r *Runner) background() bool {
	return r.cfg.Priority != nil && !r.cfg.Streaming && r.cfg.MaxLag > 0
}

// yield waits, before a background runner's fetch, while foreground work
// is busy and waiting for a CPU and r is less than MaxLag behind. A runner
// that found nothing more in the log does not wait: its fetch waits for
// the next batch anyway, and it is not behind. Before it waits it hands
// what it has batched to its workers (flush). It returns false when ctx
// ended, or flush did.
func (r *Runner) yield(ctx context.Context, flush func(stop <-chan struct{}) bool) bool {
	pr := r.cfg.Priority
	yielded := r.cfg.Metrics.Yielded.WithLabelValues(r.cfg.Name)
	waiting := false
	defer func() {
		if waiting {
			r.yielding.Add(-1)
		}
	}()
	for last := time.Now(); ; {
		now := time.Now()
		if waiting {
			yielded.Add(now.Sub(last).Seconds()) // as it goes, not at the end of a wait of minutes
			last = now
		}
		if r.progress.caughtUp.Load() || r.progress.lag(now) >= r.cfg.MaxLag || !pr.Foreground(now) || !pr.pressure.Pressed(now) {
			return true
		}
		if !waiting {
			if !flush(ctx.Done()) {
				return false
			}
			waiting, last = true, time.Now()
			r.yielding.Add(1)
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(yieldPoll):
		}
	}
}

// Yielding says whether the runner is waiting for the rest of the bridge
// (a background runner only).
func (r *Runner) Yielding() bool { return r.yielding.Load() > 0 }
