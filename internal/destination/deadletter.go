package destination

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/queue"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// DeadLetter is what the dead-letter stream keeps for one event: enough to
// understand the failure and to re-drive the event later.
type DeadLetter struct {
	Destination string `json:"destination"`
	// Reason is a stable code (no_user_anon_id, message_too_big,
	// rejected_by_destination, retries_exhausted, undecodable_log_message).
	Reason string `json:"reason"`
	// Detail is the human explanation: the target's answer, the last error.
	Detail string `json:"detail,omitempty"`
	// Status is the HTTP status of the target's refusal
	// (rejected_by_destination by an HTTP target), else 0.
	Status int       `json:"status,omitempty"`
	At     time.Time `json:"at"`
	// Event is the Statsig event as the log held it.
	Event *statsig.Event `json:"event,omitempty"`
	// Batch carries the request-level facts (events left out).
	Batch *statsig.Batch `json:"batch,omitempty"`
	// Payload is what the destination would have been sent.
	Payload json.RawMessage `json:"payload,omitempty"`
	// Raw is an undecodable log message: the batch as published, or the
	// bytes as the log holds them when even those cannot be read back.
	// It stays in its stored encoding (binary since statsig.AppendBinary,
	// JSON before): a batch that does not decode has no JSON form to show.
	Raw []byte `json:"raw,omitempty"`
}

// DeadLetterKey names what a dead letter records: the event, the message
// that failed (an event can be two, an exposure and its Experiment Viewed)
// and the reason. A replay skips a dead letter whose key is stored already.
func DeadLetterKey(eventID string, payload []byte, reason string) string {
	return eventID + "\x00" + messageID(payload) + "\x00" + reason
}

// Key is the dead letter's DeadLetterKey.
func (dl *DeadLetter) Key() string {
	if dl.Event == nil {
		return ""
	}
	return DeadLetterKey(dl.Event.ID, dl.Payload, dl.Reason)
}

// Dead-letter reasons of a message the destination did get.
const (
	reasonRejected         = "rejected_by_destination"
	reasonRetriesExhausted = "retries_exhausted"
)

// reasonTexts say in words why a message could not be sent at all.
var reasonTexts = map[string]string{
	"no_user_anon_id":         "no userId or anonymousId",
	"message_too_big":         "larger than the destination takes",
	"message_id_too_long":     "messageId too long",
	"event_not_defined":       "no event name",
	"undecodable_log_message": "the log message does not decode",
}

// ReasonText is a dead-letter reason code with its meaning in words.
func ReasonText(code string) string {
	if t, ok := reasonTexts[code]; ok {
		return code + ": " + t
	}
	return code
}

// reasonCode keeps the code of "code: detail".
func reasonCode(reason string) (code, detail string) {
	if c, d, ok := strings.Cut(reason, ": "); ok {
		return c, d
	}
	return reason, ""
}

// deadLetter stores items in the dead-letter stream, then counts them done.
// A dead letter that cannot be stored is retried: an event must never be
// acked without a delivery or a dead letter.
//
// status is the target's HTTP status when it refused the events (0
// otherwise); detail then leads with it, so every view of the dead letter
// says what the destination answered.
func (r *Runner) deadLetter(ctx context.Context, items []item, reason, detail string, status int) {
	r.forgetIdentities(items)
	code, d := reasonCode(reason)
	if detail == "" {
		detail = d
	}
	if status != 0 {
		detail = strings.TrimSuffix(fmt.Sprintf("HTTP %d: %s", status, detail), ": ")
	}
	for _, it := range items {
		if r.cfg.DeadLettered != nil && it.lm.redrive == nil && r.cfg.DeadLettered(DeadLetterKey(it.ev.ID, it.payload, code)) {
			// A replay of an event that is a dead letter for this reason
			// already: one record of it is enough. (Never in a re-drive,
			// which deletes the old record once the event has a new one.)
			r.observe(Outcome{Status: StatusDeadLettered, Batch: it.lm.batch, Event: it.ev, Reason: code, Note: detail, Payload: it.payload, AlreadyDeadLettered: true})
			r.done(it.lm)
			continue
		}
		meta := *it.lm.batch
		meta.Events = nil
		dl := DeadLetter{Destination: r.cfg.Name, Reason: code, Detail: detail, Status: status, At: time.Now().UTC(), Event: it.ev, Batch: &meta}
		if json.Valid(it.payload) {
			dl.Payload = it.payload
		}
		data, err := json.Marshal(dl)
		if err != nil {
			// Keep what can be kept rather than leave the batch unacked
			// forever: the event's identity, name and the reason.
			r.log.Error("encoding a dead letter; storing it without the event's raw fields", "err", err)
			data, _ = json.Marshal(DeadLetter{Destination: r.cfg.Name, Reason: code, Status: status,
				Detail: detail + " (event not encodable: " + err.Error() + ")", At: dl.At,
				Event: &statsig.Event{ID: it.ev.ID, EventName: it.ev.EventName, Time: it.ev.Time}, Batch: &meta})
		}
		if !r.storeDeadLetter(ctx, data) {
			return
		}
		r.cfg.Metrics.DeadLettered.WithLabelValues(r.cfg.Name, code).Inc()
		if it.lm.redrive != nil {
			it.lm.redrive.deadLettered = true
		}
		r.observe(Outcome{Status: StatusDeadLettered, Batch: it.lm.batch, Event: it.ev, Reason: code, Note: detail, Payload: it.payload, Redriven: it.lm.redrive != nil})
		r.done(it.lm)
	}
}

func (r *Runner) storeDeadLetter(ctx context.Context, data []byte) bool {
	for attempt := 0; ; attempt++ {
		err := r.cfg.Log.DeadLetter(ctx, r.cfg.Name, data)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		r.log.Warn("storing a dead letter; retrying", "err", err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(r.cfg.Retry.Backoff(attempt)):
		}
	}
}

// deadLetterRaw handles a log message that does not decode as a batch.
func (r *Runner) deadLetterRaw(ctx context.Context, m *queue.Message, err error) {
	raw, derr := m.Data()
	if derr != nil {
		raw = m.Stored() // not even decompressible: keep the bytes as the log held them
	}
	data, _ := json.Marshal(DeadLetter{Destination: r.cfg.Name, Reason: "undecodable_log_message", Detail: err.Error(), At: time.Now().UTC(), Raw: raw})
	if !r.storeDeadLetter(ctx, data) {
		return
	}
	r.cfg.Metrics.DeadLettered.WithLabelValues(r.cfg.Name, "undecodable_log_message").Inc()
	actx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = m.Ack(actx)
}
