// Package cpupressure tells whether this process's goroutines are waiting
// for a CPU: the signal background work (the warehouse loader) uses to give
// way to latency-sensitive work (intake, streaming delivery).
//
// The measure is the Go scheduler's own: the time goroutines spend runnable
// before they run (runtime/metrics "/sched/latencies:seconds"). With a spare
// core it stays in microseconds; when every core is taken it grows to
// milliseconds. CockroachDB's admission control throttles its elastic work
// (backups, rangefeeds) on the same signal.
package cpupressure

import (
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

const latencies = "/sched/latencies:seconds"

// Gauge reads the scheduling latency over the time since its last reading.
// Safe for concurrent use.
type Gauge struct {
	// Limit is the p99 latency above which the process is under pressure.
	Limit time.Duration
	// Every is the shortest window: a reading sooner returns the last
	// answer, so frequent callers cost one histogram read per window.
	Every time.Duration

	mu     sync.Mutex
	sample [1]metrics.Sample
	prev   []uint64
	at     time.Time
	last   bool
	// decided is set when the first window closes.
	decided bool
}

// Default thresholds: Go's scheduler hands out time slices of 10 ms, so a
// p99 wait of a millisecond means goroutines queue for a core.
const (
	DefaultLimit = time.Millisecond
	DefaultEvery = 50 * time.Millisecond
)

// New returns a Gauge with the default thresholds, its first window
// starting now.
func New() *Gauge {
	g := &Gauge{Limit: DefaultLimit, Every: DefaultEvery}
	g.Pressed(time.Now())
	return g
}

// Pressed says whether more than 1 % of the goroutines scheduled in the
// last window waited Limit or longer for a CPU (the 99th percentile of
// the scheduling latency is over Limit). A window is at least Every long;
// until the first one closes (at most a second after New) the answer is
// yes.
func (g *Gauge) Pressed(now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.at.IsZero() && now.Sub(g.at) < g.Every {
		return g.last || !g.decided
	}
	g.sample[0].Name = latencies
	metrics.Read(g.sample[:])
	if g.sample[0].Value.Kind() != metrics.KindFloat64Histogram {
		return false // not measured by this runtime: never hold work back
	}
	h := g.sample[0].Value.Float64Histogram()
	if g.prev == nil {
		g.prev, g.at = append(g.prev[:0], h.Counts...), now
		return g.last
	}
	// The runtime tracks one scheduling in eight or so: a window grows
	// until it holds minSamples of them or maxWindow passed, so that a
	// quiet moment does not flip the answer. A whole maxWindow with
	// fewer is a quiet process: not pressed.
	total, slow := delta(h.Counts, g.prev, h.Buckets, g.Limit.Seconds())
	if total < minSamples && now.Sub(g.at) < maxWindow {
		// Until the first window closes the answer is unknown, and
		// background work waits to know (at most maxWindow).
		return g.last || !g.decided
	}
	// A whole window with fewer than minSamples is a quiet process.
	g.last, g.decided = total >= minSamples && slow*100 > total, true
	g.prev, g.at = append(g.prev[:0], h.Counts...), now
	return g.last
}

// A window's bounds: at least minSamples schedulings unless maxWindow
// passes first.
const (
	minSamples = 50
	maxWindow  = time.Second
)

// delta counts the goroutine schedulings between prev and counts, and
// those among them that waited limit seconds or longer (buckets[i] is the
// lower bound of counts[i]).
func delta(counts, prev []uint64, buckets []float64, limit float64) (total, slow uint64) {
	for i, c := range counts {
		d := c
		if i < len(prev) {
			d -= prev[i]
		}
		total += d
		if buckets[i] >= limit {
			slow += d
		}
	}
	return total, slow
}

// Activity records in which tenths of the last second latency-sensitive
// work ran (an intake request, a streaming destination handing out a
// batch): background work gives way only to work that is busy, not to a
// trickle. A warehouse catching up takes every core by itself, so with an
// SDK request every half second the process is under pressure and the
// trickle active; giving way to it would only slow the warehouse (the
// review of the first version measured 2,000 events taking 6.8 s instead
// of 1.5). The zero value has never been marked. Safe for concurrent use.
type Activity struct {
	// slots[k] holds the number of the last tenth of a second (Unix time
	// / slotLen) with k = that number mod len(slots) that was marked.
	slots [activitySlots]atomic.Int64
}

// The window Busy looks at: activitySlots tenths of a second, of which
// busySlots must have seen the work.
const (
	activitySlots = 10
	slotLen       = int64(100 * time.Millisecond)
	busySlots     = 5
)

// Mark records that the work ran at now.
func (a *Activity) Mark(now time.Time) {
	n := now.UnixNano() / slotLen
	if s := &a.slots[n%activitySlots]; s.Load() != n {
		s.Store(n)
	}
}

// Busy says whether the work ran in at least half of the tenths of a
// second of the last second before now.
func (a *Activity) Busy(now time.Time) bool {
	n := now.UnixNano() / slotLen
	seen := 0
	for i := range a.slots {
		if m := a.slots[i].Load(); m > n-activitySlots && m <= n {
			seen++
		}
	}
	return seen >= busySlots
}
