package delivery

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ceilingMargin is how far below the rate a Ceiling spaces requests: the
// receiver counts them as they arrive, and network jitter can bring two
// requests sent just over a second apart within one second.
const ceilingMargin = 0.95

// A Ceiling lets requests through at perSecond, and never more than
// ⌊perSecond⌋ within any one second, the first included (Segment
// conformance check 25).
//
// Two mechanisms, because each alone fails: a token bucket with a burst of
// one spaces requests evenly (at ceilingMargin of the rate), but it hands
// out instants, not sends: a worker that wakes late (a busy machine stalls
// it) sends when its slot is past, together with the next ones, and a
// second then carries more than the rate. So a Ceiling also keeps the
// times it let the last ⌊perSecond⌋ requests through, and holds a request
// until the oldest of them is a second old.
type Ceiling struct {
	spacing *rate.Limiter

	mu     sync.Mutex
	recent []time.Time // ring of the last len(recent) requests let through
	next   int         // the oldest in recent, overwritten next
}

// NewCeiling returns a Ceiling of perSecond requests (> 0).
func NewCeiling(perSecond float64) *Ceiling {
	n := max(int(math.Floor(perSecond)), 1)
	return &Ceiling{
		spacing: rate.NewLimiter(rate.Limit(perSecond*ceilingMargin), 1),
		recent:  make([]time.Time, n),
	}
}

// Wait blocks until a request may go, or ctx ends (its error).
func (c *Ceiling) Wait(ctx context.Context) error {
	if err := c.spacing.Wait(ctx); err != nil {
		return err
	}
	for {
		d := c.admit(time.Now())
		if d <= 0 {
			return nil
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// admit lets a request through at now if fewer than len(recent) went in
// the second before it (and records it), or says how long to wait.
func (c *Ceiling) admit(now time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	oldest := c.recent[c.next]
	if !oldest.IsZero() {
		if d := oldest.Add(time.Second).Sub(now); d > 0 {
			return d
		}
	}
	c.recent[c.next] = now
	c.next = (c.next + 1) % len(c.recent)
	return 0
}
