package destination

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// ErrRedriveRunning is returned while another re-drive of the same
// destination is under way.
var ErrRedriveRunning = errors.New("a re-drive of this destination is already running")

// RedriveResult counts what became of re-driven dead letters.
type RedriveResult struct {
	// Delivered were accepted by the destination; their dead letters are
	// deleted.
	Delivered int `json:"delivered"`
	// Filtered are now filtered by the destination's mapping; deleted too.
	Filtered int `json:"filtered"`
	// DeadLettered failed again: a new dead letter replaces the old one.
	DeadLettered int `json:"deadLettered"`
	// Left were not settled before ctx ended; they stay dead letters.
	Left int `json:"left"`
	// Skipped hold no event to re-send (undecodable log messages).
	Skipped int `json:"skipped"`
}

// redriven is the state of one re-driven dead letter.
type redriven struct {
	seq          uint64
	deadLettered bool
	filtered     bool
	settled      bool
}

// Redrive re-delivers up to max of this destination's dead letters to this
// destination only, as the delivery loop would: encoded with the current
// mapping (same messageIds), batched, retried with backoff. A dead letter
// is deleted once its event is delivered, filtered, or dead-lettered anew;
// those not settled when ctx ends stay. It returns ErrRedriveRunning while
// another re-drive runs.
func (r *Runner) Redrive(ctx context.Context, max int) (RedriveResult, error) {
	var res RedriveResult
	if !r.redriving.TryLock() {
		return res, ErrRedriveRunning
	}
	defer r.redriving.Unlock()
	entries, err := r.cfg.Log.DeadLetterEntries(ctx, r.cfg.Name, 1, max)
	if err != nil {
		return res, err
	}
	var (
		all      []*logMessage
		cur      []item
		curBytes int
	)
	flush := func() {
		if len(cur) > 0 {
			r.deliver(ctx, cur, 0)
			cur, curBytes = nil, 0
		}
	}
	for _, e := range entries {
		var dl DeadLetter
		if err := json.Unmarshal(e.Data, &dl); err != nil || dl.Event == nil || dl.Batch == nil {
			res.Skipped++
			continue
		}
		b := *dl.Batch
		b.Events = []statsig.Event{*dl.Event}
		ev := &b.Events[0]
		lm := &logMessage{batch: &b, fetched: time.Now(), redrive: &redriven{seq: e.Seq}}
		all = append(all, lm)
		lm.remaining.Store(1)
		enc := r.cfg.Encoder.Encode(&b, ev)
		switch {
		case enc.Filtered:
			lm.redrive.filtered = true
			r.observe(Outcome{Status: StatusFiltered, Batch: &b, Event: ev, Reason: enc.Reason, Note: enc.Note.String(), Redriven: true})
			r.done(lm)
			continue
		case enc.Invalid:
			// Still not sendable: the new dead letter keeps the old one's
			// message (an Experiment Viewed's, not its exposure's).
			payload := enc.Payload
			if len(dl.Payload) > 0 {
				payload = dl.Payload
			}
			r.deadLetter(ctx, []item{{payload: payload, lm: lm, ev: ev}}, enc.Reason, "", 0)
			continue
		}
		p := redrivePayload(dl.Payload, enc)
		if len(cur) > 0 && (len(cur)+1 > r.limits.MaxItems || r.limits.size(len(cur)+1, curBytes+len(p)) > r.limits.MaxBytes) {
			flush()
		}
		cur = append(cur, item{payload: p, lm: lm, ev: ev})
		curBytes += len(p)
	}
	flush()
	for _, lm := range all {
		st := lm.redrive
		switch {
		case !st.settled:
			res.Left++
		case st.deadLettered:
			res.DeadLettered++
		case st.filtered:
			res.Filtered++
		default:
			res.Delivered++
		}
	}
	if res.Delivered+res.Filtered+res.DeadLettered > 0 {
		r.log.Info("re-drove dead letters", "delivered", res.Delivered, "filtered", res.Filtered,
			"dead_lettered_again", res.DeadLettered, "left", res.Left, "skipped", res.Skipped)
	}
	return res, ctx.Err()
}

// redrivePayload is the one message a dead letter stands for. An event can
// be two messages (an exposure and its "Experiment Viewed"), each
// dead-lettered on its own: re-encoding gives both, and sending both for
// each dead letter would send copies. The dead letter's payload names its
// message by messageId; the re-encoded message with that ID is sent, or
// the event's first message when the dead letter has none (an event that
// was never sent: no identity, too big) or the mapping no longer makes it.
func redrivePayload(dead json.RawMessage, enc Encoded) []byte {
	if enc.Extra == nil || len(dead) == 0 {
		return enc.Payload
	}
	id := messageID(dead)
	if id != "" && id == messageID(enc.Extra) {
		return enc.Extra
	}
	return enc.Payload
}

// messageID reads a Track message's messageId, "" if it has none.
func messageID(payload []byte) string {
	var m struct {
		MessageID string `json:"messageId"`
	}
	if json.Unmarshal(payload, &m) != nil {
		return ""
	}
	return m.MessageID
}

// settleRedrive deletes a re-driven dead letter whose event has its new
// outcome (a new dead letter, if it failed again, is stored already).
func (r *Runner) settleRedrive(lm *logMessage) {
	lm.redrive.settled = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.cfg.Log.DeleteDeadLetter(ctx, lm.redrive.seq); err != nil {
		r.log.Warn("deleting a re-driven dead letter; a later re-drive sends it again (same messageId)", "seq", lm.redrive.seq, "err", err)
	}
}
