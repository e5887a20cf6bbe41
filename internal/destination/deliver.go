package destination

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// deliver sends one batch until it is delivered, dead-lettered, or the
// bridge shuts down (then its events stay unacked in the log).
func (r *Runner) deliver(ctx context.Context, items []item, depth int) {
	payloads := make([][]byte, len(items))
	size := 0
	for i, it := range items {
		payloads[i] = it.payload
		size += len(it.payload)
	}
	pw, _ := r.cfg.Writer.(ParsedWriter)
	var parsed []any
	if pw != nil {
		parsed = make([]any, len(items))
		for i, it := range items {
			parsed[i] = it.parsed
		}
	}
	write := func() error {
		if pw != nil {
			return pw.WriteParsed(ctx, payloads, parsed)
		}
		return r.cfg.Writer.Write(ctx, payloads)
	}
	start := time.Now()
	attempt := 0 // failed attempts that count towards the backoff
	tries := 0   // every write, pause probes included
	// Items of a batch that failed once count as retrying until settled.
	retrying := false
	release := func() {
		if retrying {
			r.retrying.Add(-int64(len(items)))
			retrying = false
		}
	}
	defer release()
	for {
		if !r.waitTurn(ctx) {
			return
		}
		if err := r.limiter.Wait(ctx); err != nil {
			return
		}
		err := write()
		tries++
		if err == nil {
			r.delivered(items, tries-1, r.limits.size(len(items), size))
			return
		}
		if ctx.Err() != nil {
			return
		}
		r.setError(err)
		r.cfg.Metrics.RequestErrors.WithLabelValues(r.cfg.Name, errorClass(err)).Inc()
		if _, permanent := isPermanent(err); !permanent {
			if !retrying {
				retrying = true
				r.retrying.Add(int64(len(items)))
			}
			r.observe(Outcome{Status: StatusRetrying, Reason: errorClass(err), Note: err.Error(), Attempts: tries, Count: len(items)})
		}
		var auth *AuthError
		if errors.As(err, &auth) {
			if !r.paused.Swap(true) {
				r.cfg.Metrics.Paused.WithLabelValues(r.cfg.Name).Set(1)
				r.log.Error("destination paused: it refuses every request (credentials or URL); fix the configuration (the bridge retries every "+r.cfg.Retry.PauseProbe.String()+")", "err", err)
			}
			r.holdOff(r.cfg.Retry.PauseProbe)
			continue
		}
		r.unpause()
		if perm, ok := isPermanent(err); ok {
			if len(items) > 1 {
				// Bisect: find the events the target refuses, deliver the rest.
				release() // the halves count their own retries
				mid := len(items) / 2
				r.deliver(ctx, items[:mid], depth+1)
				r.deliver(ctx, items[mid:], depth+1)
				return
			}
			r.deadLetter(ctx, items, reasonRejected, perm.Response, perm.Status)
			return
		}
		wait := r.cfg.Retry.Backoff(attempt)
		var bo *BackOffError
		if errors.As(err, &bo) {
			wait = max(wait, bo.Wait)
			r.holdOff(bo.Wait)
		}
		if time.Since(start)+wait > r.cfg.Retry.MaxElapsed {
			r.deadLetter(ctx, items, reasonRetriesExhausted, err.Error(), 0)
			return
		}
		r.cfg.Metrics.Retried.WithLabelValues(r.cfg.Name).Inc()
		if attempt == 0 || attempt%10 == 0 {
			r.log.Warn("delivery failed; retrying", "events", len(items), "attempt", attempt+1, "wait", wait.Round(time.Millisecond), "err", err)
		}
		if !sleep(ctx, wait) {
			return
		}
		attempt++
	}
}

func (r *Runner) unpause() {
	if r.paused.Swap(false) {
		r.cfg.Metrics.Paused.WithLabelValues(r.cfg.Name).Set(0)
		r.log.Info("destination resumed: credentials accepted again")
	}
}

// sleep waits d or until ctx is done. The batch's log messages are kept
// in progress meanwhile by keepAlive.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// waitTurn waits until the destination may send again. A 429's
// Retry-After and a 401/403 pause hold back every worker, not only the one
// that got the answer: the limit is the target's, not the batch's.
func (r *Runner) waitTurn(ctx context.Context) bool {
	for {
		d := time.Until(time.Unix(0, r.notBefore.Load()))
		if d <= 0 {
			return true
		}
		if !sleep(ctx, d) {
			return false
		}
	}
}

// holdOff makes every worker wait until now+d.
func (r *Runner) holdOff(d time.Duration) {
	until := time.Now().Add(d).UnixNano()
	for {
		cur := r.notBefore.Load()
		if cur >= until || r.notBefore.CompareAndSwap(cur, until) {
			return
		}
	}
}

func (r *Runner) delivered(items []item, attempt, bytes int) {
	// Before anything says delivered: the traits are in the log by then.
	r.recordIdentities(items)
	m := r.cfg.Metrics
	r.unpause()
	r.lastError.Store(nil)
	label := "first"
	if attempt > 0 {
		label = "retry"
	}
	m.Delivered.WithLabelValues(r.cfg.Name, label).Add(float64(len(items)))
	m.BatchEvents.WithLabelValues(r.cfg.Name).Observe(float64(len(items)))
	m.BatchBytes.WithLabelValues(r.cfg.Name).Observe(float64(bytes))
	now := time.Now()
	lat := m.Latency.WithLabelValues(r.cfg.Name)
	for _, it := range items {
		lat.Observe(now.Sub(time.UnixMilli(it.lm.batch.ReceivedAt)).Seconds())
		if r.cfg.Observer != nil {
			r.observe(Outcome{Status: StatusDelivered, Batch: it.lm.batch, Event: it.ev, Payload: it.payload, Attempts: attempt + 1, At: now, Redriven: it.lm.redrive != nil})
		}
		r.done(it.lm)
	}
}

func errorClass(err error) string {
	type coded interface{ StatusCode() int }
	var c coded
	if errors.As(err, &c) {
		return strconv.Itoa(c.StatusCode())
	}
	var bo *BackOffError
	if errors.As(err, &bo) {
		return "backoff"
	}
	return "network"
}
