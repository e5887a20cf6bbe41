package destination

import (
	"context"

	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
)

// stateAttempts bounds the tries of one state look-up before the runner
// gives up on deduplicating the batch (it then delivers every exposure:
// a duplicate costs an event, a lost exposure would cost data).
const stateAttempts = 4

// applyState applies the decisions that need the state in the log to one
// fetch of encoded messages: dedupe_exposures. It returns false when ctx
// ended first; the messages then stay unacked in the log.
func (r *Runner) applyState(ctx context.Context, batch []prepared) bool {
	if r.cfg.Dedupe == nil {
		return true
	}
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
	var (
		first []bool
		err   error
	)
	for attempt := range stateAttempts {
		if first, err = r.cfg.Dedupe.First(ctx, keys, ids); err == nil || ctx.Err() != nil {
			break
		}
		if !sleep(ctx, r.cfg.Retry.Backoff(attempt)) {
			break
		}
	}
	if ctx.Err() != nil {
		return false
	}
	if err != nil {
		r.log.Warn("exposure dedupe state unavailable: delivering this batch's exposures without deduplication", "exposures", len(keys), "err", err)
		return true
	}
	for j, ok := range first {
		if !ok {
			e := where[j]
			e.Filtered, e.Filter, e.Reason = true, mapping.FilterDuplicateExposure, string(mapping.FilterDuplicateExposure)
			e.Payload, e.Extra = nil, nil
		}
	}
	return true
}
