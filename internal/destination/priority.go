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
// there is foreground work (an intake request, or a streaming destination
// handing a batch to its workers, within the last foregroundWindow) and the
// process's goroutines wait for a CPU (cpupressure). It stops waiting once
// it is MaxLag behind the log, and keeps loading while it is that far
// behind. A streaming destination that is down or paused hands out no
// batches, and CPU taken by other processes or by the warehouse alone is
// nothing to give way to: neither holds the warehouse back.
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

// foregroundWindow is how recently foreground work must have run to be
// given way to; yieldPoll is how often a waiting runner looks again.
const (
	foregroundWindow = time.Second
	yieldPoll        = 20 * time.Millisecond
)

// fetchProgress is what one runner's fetches saw last.
type fetchProgress struct {
	// activeAt is when the runner last handed a batch to a worker.
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

// foreground says whether intake or a streaming destination ran lately.
func (pr *Priority) foreground(now time.Time) bool {
	if pr.intake.Since(now, foregroundWindow) {
		return true
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	for _, p := range pr.streaming {
		if p.activeAt.Since(now, foregroundWindow) {
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
// is waiting for a CPU and r is less than MaxLag behind. A runner that
// found nothing more in the log does not wait: its fetch waits for the
// next batch anyway, and it is not behind. It returns false when ctx
// ended.
func (r *Runner) yield(ctx context.Context) bool {
	var since time.Time
	defer func() {
		if !since.IsZero() {
			r.yielding.Add(-1)
			r.cfg.Metrics.Yielded.WithLabelValues(r.cfg.Name).Add(time.Since(since).Seconds())
		}
	}()
	pr := r.cfg.Priority
	for {
		now := time.Now()
		if r.progress.caughtUp.Load() || r.progress.lag(now) >= r.cfg.MaxLag || !pr.foreground(now) || !pr.pressure.Pressed(now) {
			return true
		}
		if since.IsZero() {
			since = now
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
