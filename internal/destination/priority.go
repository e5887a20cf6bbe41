package destination

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/queue"
)

// Priority puts streaming destinations (Segment, webhooks, the Statsig tee)
// ahead of warehouses for the CPU. A warehouse row costs several times the
// CPU of a Track message (two rows, indexes, a commit), so a warehouse
// loading beside Segment at full speed takes most of what Segment needs:
// on two cores an up-to-date SQLite warehouse more than halved Segment
// delivery. Segment's own warehouses load every few hours; a warehouse here
// may lag too, within a bound its operator sets (warehouse.max_lag).
//
// A background runner (Config.MaxLag > 0) waits before each fetch while a
// streaming runner is busy: it fetched within the last busyWindow and the
// log had at least a fetch's worth more waiting for it. A streaming
// destination that is down, paused or slow to answer fetches nothing (its
// workers are busy retrying), so it does not hold the warehouse back: only
// CPU-bound catching up does. The background runner stops waiting once its
// own lag reaches MaxLag, and keeps loading while it is that far behind.
type Priority struct {
	mu        sync.Mutex
	streaming []*fetchProgress
}

// NewPriority returns a Priority with no runners yet.
func NewPriority() *Priority { return &Priority{} }

// busyWindow is how recently a streaming runner must have made progress
// to count as busy; yieldPoll is how often a waiting background runner looks again.
const (
	busyWindow = time.Second
	yieldPoll  = 20 * time.Millisecond
)

// fetchProgress is what one runner's fetches saw last.
type fetchProgress struct {
	// activeAt is when the runner last fetched batches or handed a batch
	// to a worker; polledAt when a fetch last returned (Unix ns, 0 never).
	activeAt, polledAt atomic.Int64
	// pending is the batches the log had left for the runner then.
	pending atomic.Int64
	// storedAt is when the log stored the last batch fetched (Unix ns).
	storedAt atomic.Int64
	// want is a fetch's worth of batches (the runner's fetchSize, kept
	// by seen).
	want atomic.Int64
	// held is the batches fetched and not yet acked: a runner that
	// fetched the whole log is still catching up until it delivers them.
	held atomic.Int64
}

// saw records a fetch's batches (none: nothing changes but the time of an
// empty log is learnt from pending 0).
func (p *fetchProgress) saw(msgs []*queue.Message, now time.Time) {
	p.polledAt.Store(now.UnixNano())
	if len(msgs) == 0 {
		p.pending.Store(0)
		return
	}
	last := msgs[len(msgs)-1]
	p.pending.Store(int64(last.Pending()))
	p.storedAt.Store(last.StoredAt().UnixNano())
	p.activeAt.Store(now.UnixNano())
}

// busy says the runner was catching up with a backlog a moment ago: it
// made progress within busyWindow, and more than a fetch's worth was
// waiting in the log or in its hands.
func (p *fetchProgress) busy(now time.Time) bool {
	at := p.activeAt.Load()
	return at != 0 && now.UnixNano()-at < int64(busyWindow) && p.pending.Load()+p.held.Load() > max(p.want.Load(), 1)
}

// lag bounds how far behind the log the runner is: the age of the last
// batch it fetched if more were waiting then, else the time since its last
// fetch (anything stored since is younger). Run starts the clock as a
// fetch that found nothing, so a runner that starts far behind while the
// streaming destinations are busy learns it within max_lag.
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

// streamingBusy says whether some streaming runner is catching up.
func (pr *Priority) streamingBusy(now time.Time) bool {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	for _, p := range pr.streaming {
		if p.busy(now) {
			return true
		}
	}
	return false
}

// background says whether r gives way to the streaming runners.
func (r *Runner) background() bool {
	return r.cfg.Priority != nil && !r.cfg.Streaming && r.cfg.MaxLag > 0
}

// yield waits, before a background runner's fetch, while a streaming
// runner is busy and r is less than MaxLag behind. It returns false when
// ctx ended.
func (r *Runner) yield(ctx context.Context) bool {
	var since time.Time
	defer func() {
		if !since.IsZero() {
			r.yielding.Add(-1)
			r.cfg.Metrics.Yielded.WithLabelValues(r.cfg.Name).Add(time.Since(since).Seconds())
		}
	}()
	for {
		now := time.Now()
		if !r.cfg.Priority.streamingBusy(now) || r.progress.lag(now) >= r.cfg.MaxLag {
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

// Yielding says whether the runner is waiting for streaming destinations
// to catch up (a background runner only).
func (r *Runner) Yielding() bool { return r.yielding.Load() > 0 }
