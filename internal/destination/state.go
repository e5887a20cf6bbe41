package destination

import (
	"context"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
)

// stateAttempts bounds the tries of one state look-up before the runner
// goes on without it: every exposure of the fetch is delivered (a
// duplicate costs an event, a lost exposure would cost data), and every
// identify is sent (Segment deduplicates those it has by messageId).
const stateAttempts = 4

// applyState applies the decisions that need the state in the log to one
// fetch of encoded messages: dedupe_exposures, then identify on_change for
// the events still to be delivered. It returns false when ctx ended first;
// the messages then stay unacked in the log.
func (r *Runner) applyState(ctx context.Context, batch []prepared) bool {
	if r.cfg.Dedupe != nil && !r.dedupe(ctx, batch) {
		return false
	}
	if r.cfg.Identities != nil && !r.identify(ctx, batch) {
		return false
	}
	return true
}

// withRetries runs f up to stateAttempts times with the retry backoff
// between; alive is false when ctx ended.
func (r *Runner) withRetries(ctx context.Context, f func() error) (alive bool, err error) {
	for attempt := range stateAttempts {
		if err = f(); err == nil || ctx.Err() != nil {
			break
		}
		if !sleep(ctx, r.cfg.Retry.Backoff(attempt)) {
			break
		}
	}
	return ctx.Err() == nil, err
}

// dedupe filters every exposure that is not the first with its key.
func (r *Runner) dedupe(ctx context.Context, batch []prepared) bool {
	var (
		keys, ids []string
		where     []*Encoded
	)
	for _, p := range batch {
		for i := range p.encs {
			enc := &p.encs[i]
			if enc.Dedupe == "" || enc.Filtered || enc.Invalid {
				continue
			}
			keys = append(keys, enc.Dedupe)
			ids = append(ids, p.lm.batch.Events[i].ID)
			where = append(where, enc)
		}
	}
	if len(keys) == 0 {
		return true
	}
	var first []bool
	ok, err := r.withRetries(ctx, func() (err error) {
		first, err = r.cfg.Dedupe.First(ctx, keys, ids)
		return err
	})
	if !ok {
		return false
	}
	if err != nil {
		r.cfg.Metrics.StateErrors.WithLabelValues(r.cfg.Name, "dedupe").Inc()
		r.log.Warn("exposure dedupe state unavailable: delivering this batch's exposures without deduplication", "exposures", len(keys), "err", err)
		return true
	}
	for j, ok := range first {
		if !ok {
			e := where[j]
			e.Filtered, e.Filter, e.Reason = true, mapping.FilterDuplicateExposure, string(mapping.FilterDuplicateExposure)
			e.Payload, e.Extra, e.Identify, e.Parsed, e.ExtraParsed = nil, nil, nil, nil, nil
		}
	}
	return true
}

// identify marks the events whose user's identify is due.
func (r *Runner) identify(ctx context.Context, batch []prepared) bool {
	var (
		units, hashes []string
		where         [][2]int
	)
	for pi, p := range batch {
		for i := range p.encs {
			enc := &p.encs[i]
			if enc.Identify == nil || enc.Filtered || enc.Invalid {
				continue
			}
			units = append(units, enc.Identify.Unit)
			hashes = append(hashes, enc.Identify.TraitsHash)
			where = append(where, [2]int{pi, i})
		}
	}
	if len(units) == 0 {
		return true
	}
	var due []bool
	ok, err := r.withRetries(ctx, func() (err error) {
		due, err = r.cfg.Identities.Due(ctx, units, hashes)
		return err
	})
	if !ok {
		return false
	}
	if err != nil {
		r.cfg.Metrics.StateErrors.WithLabelValues(r.cfg.Name, "identify").Inc()
		r.log.Warn("identify state unavailable: sending an identify with each of this batch's events", "events", len(units), "err", err)
		due = make([]bool, len(units))
		seen := map[[2]string]bool{}
		for i := range due {
			k := [2]string{units[i], hashes[i]}
			due[i], seen[k] = !seen[k], true
		}
	}
	for j, w := range where {
		if !due[j] {
			continue
		}
		p := &batch[w[0]]
		if p.identify == nil {
			p.identify = make([]bool, len(p.encs))
		}
		p.identify[w[1]] = true
	}
	return true
}

// forgetIdentities drops the traits this process assumed sent for the
// identifies among items that were dead-lettered (see Identities.Forget).
func (r *Runner) forgetIdentities(items []item) {
	if r.cfg.Identities == nil {
		return
	}
	var units, hashes []string
	for _, it := range items {
		if it.ident != nil {
			units = append(units, it.ident.Unit)
			hashes = append(hashes, it.ident.TraitsHash)
		}
	}
	r.cfg.Identities.Forget(units, hashes)
}

// recordIdentities records the traits of the delivered identifies among
// items, before their log messages are acked. A failure is logged: the
// identify is sent again later, with the same messageId.
func (r *Runner) recordIdentities(items []item) {
	var units, hashes []string
	for _, it := range items {
		if it.ident != nil {
			units = append(units, it.ident.Unit)
			hashes = append(hashes, it.ident.TraitsHash)
		}
	}
	if len(units) == 0 || r.cfg.Identities == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.cfg.Identities.Record(ctx, units, hashes); err != nil {
		r.log.Warn("recording the traits of delivered identifies; they will be sent again (same messageId)", "identifies", len(units), "err", err)
	}
}
