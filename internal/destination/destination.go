package destination

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// Writer delivers one batch of encoded items to a target. It makes a single
// attempt and reports the outcome; the Runner owns retries.
type Writer interface {
	// Write delivers payloads, all or nothing. Errors: *BackOffError (retry
	// no sooner than Wait), *PermanentError (this batch will never be
	// accepted: the Runner bisects it to find the bad items), *AuthError
	// (credentials or URL refused: the destination pauses), anything else is
	// transient and retried with exponential backoff.
	Write(ctx context.Context, payloads [][]byte) error
	// Limits are the target's batch limits.
	Limits() Limits
}

// ParsedWriter is a Writer that also takes, beside each payload, the form
// its Encoder made of the message (Encoded.Parsed, ExtraParsed; nil where
// there is none, as for a re-driven dead letter or an identify): the
// warehouse builds its rows from the mapped event instead of reading back
// the JSON it was just written as. It must deliver exactly what Write
// would for the payloads.
type ParsedWriter interface {
	Writer
	WriteParsed(ctx context.Context, payloads [][]byte, parsed []any) error
}

// Limits bound a batch.
type Limits struct {
	MaxItems     int
	MaxBytes     int
	MaxItemBytes int
	// Size returns the request size of n items totalling itemBytes; nil
	// means the plain sum.
	Size func(n, itemBytes int) int
}

func (l Limits) size(n, itemBytes int) int {
	if l.Size != nil {
		return l.Size(n, itemBytes)
	}
	return itemBytes
}

// Encoder turns an event into a destination's item: the mapping step.
type Encoder interface {
	Encode(b *statsig.Batch, e *statsig.Event) Encoded
}

// Encoded is an event as a destination will send it, or why it will not.
type Encoded struct {
	Payload []byte
	// Extra is a second message for the same event (Segment's A/B spec
	// "Experiment Viewed" sent alongside the exposure), or nil. Both must be
	// delivered (or dead-lettered) before the event counts as done.
	Extra []byte
	// Parsed and ExtraParsed are the destination's own form of Payload and
	// Extra when its Encoder makes one (TrackEncoder.Parse), for a
	// ParsedWriter; nil otherwise.
	Parsed, ExtraParsed any
	// Status, Reason and Note as in mapping.Result.
	Filtered bool
	Invalid  bool
	Reason   string
	// Filter is the rule that filtered the event (the metric's reason).
	Filter mapping.Filter
	Note   mapping.Notes
	Kind   statsig.Kind
	Event  string // the outgoing event name
	// Dedupe is the exposure's dedupe_exposures key (mapping.ExposureKey),
	// "" when it is not deduplicated: the Runner delivers only the first
	// exposure per key within the window, Extra following Payload.
	Dedupe string
	// Identify, when set, is the Segment identify of the event's user
	// (identify: on_change): the Runner sends it ahead of the event when
	// the user is new or their traits changed, and records the traits once
	// the destination accepted it.
	Identify *mapping.Identify
}

// BackOffError asks for a retry no sooner than Wait (429 Retry-After).
type BackOffError struct {
	Wait time.Duration
	Err  error
}

func (e *BackOffError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.Wait)
}
func (e *BackOffError) Unwrap() error { return e.Err }

// PermanentError says the batch can never be accepted as it is (HTTP 400).
type PermanentError struct {
	Err error
	// Status is the target's HTTP status, 0 when it answered no HTTP
	// (a warehouse's database); kept with dead letters.
	Status int
	// Response is what the target answered, kept with dead letters.
	Response string
}

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// AuthError says the target refuses every request: credentials refused
// (401/403), or an address that is wrong (a 404 from a mistyped URL, for
// the targets whose table says so). Nothing will get through until someone
// fixes the configuration, so the destination pauses rather than
// dead-letter every event.
type AuthError struct{ Err error }

func (e *AuthError) Error() string { return e.Err.Error() }
func (e *AuthError) Unwrap() error { return e.Err }

func isPermanent(err error) (*PermanentError, bool) {
	var p *PermanentError
	return p, errors.As(err, &p)
}
