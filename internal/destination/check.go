package destination

import (
	"context"
	"sync/atomic"
	"time"
)

// Checker is a Writer that can tell, before any event is sent, whether its
// target is there: it connects, and authenticates where the target allows
// that without sending data. note says what the check could not verify
// (for Segment, the write key).
type Checker interface {
	Check(ctx context.Context) (note string, err error)
}

// Health is the last check of a destination's target.
type Health struct {
	// Checked is when the check ran; zero before the first (or for a
	// writer that cannot be checked).
	Checked time.Time `json:"checked"`
	// OK says the target answered the check.
	OK bool `json:"ok"`
	// Detail is what failed, or what the check could not verify.
	Detail string `json:"detail,omitempty"`
}

// Check timings: one check's bound, and how often a failing target is
// checked again until it answers.
const (
	checkTimeout = 10 * time.Second
	checkEvery   = 30 * time.Second
)

// Health is the last check of the target (zero if none ran).
func (r *Runner) Health() Health {
	if h := r.health.Load(); h != nil {
		return *h
	}
	return Health{}
}

// watchTarget checks the target at start and, while it fails, every
// checkEvery until it answers or ctx ends. A failing target is logged once
// (and its recovery), shown by Health (/readyz, the Delivery view), and
// does not stop delivery: the log holds the events and retries go on.
func (r *Runner) watchTarget(ctx context.Context) {
	c, ok := r.cfg.Writer.(Checker)
	if !ok {
		return
	}
	var failing atomic.Bool
	for {
		cctx, cancel := context.WithTimeout(ctx, checkTimeout)
		note, err := c.Check(cctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		h := Health{Checked: time.Now(), OK: err == nil, Detail: note}
		if err != nil {
			h.Detail = err.Error()
			if !failing.Swap(true) {
				r.log.Error("destination not reachable at start: events wait in the log until it is (checked again every "+checkEvery.String()+")", "err", err)
			}
		} else if failing.Swap(false) {
			r.log.Info("destination reachable again")
		} else if note != "" {
			r.log.Info("destination reachable", "note", note)
		}
		r.health.Store(&h)
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(checkEvery):
		}
	}
}
