package destination

import (
	"strconv"
	"sync"

	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
	"github.com/statsig-bridge/statsig-bridge/internal/segment"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// TrackEncoder encodes events as Segment Track messages through a mapping.
type TrackEncoder struct {
	Mapper *mapping.Mapper
	// MaxItemBytes refuses messages over the target's per-message limit.
	MaxItemBytes int
	// Room is spare capacity left in each message for bytes its
	// destination appends (the warehouse's receivedAt and sentAt): without
	// it the append copies the message into a buffer twice its size.
	Room int
	// Parse, when set, makes Encoded.Parsed (ExtraParsed) from each mapped
	// Track and the message just written from it (msg; the destination's
	// Encoder may still append to it): a ParsedWriter's own form of the
	// message. nil leaves the Writer to read the payload.
	Parse func(b *statsig.Batch, t *segment.Track, msg []byte) any
}

// Encode implements Encoder. With the mapping's experiment_viewed option,
// Extra is Segment's "Experiment Viewed" sent alongside an experiment
// exposure (with "instead", Payload is Experiment Viewed and Extra nil).
func (t TrackEncoder) Encode(b *statsig.Batch, e *statsig.Event) Encoded {
	var scratch []byte
	if t.Parse == nil {
		// Nothing keeps the Results past this call: their properties and
		// context are copied into the payload and dropped.
		p := scratchPool.Get().(*[]byte)
		defer scratchPool.Put(p)
		scratch = *p
	}
	r, extra := t.Mapper.MapAllInto(scratch, b, e)
	out := Encoded{Kind: r.Kind, Reason: r.Reason, Filter: r.Filter, Note: r.Note, Event: r.Track.Event}
	switch r.Status {
	case mapping.Filtered:
		out.Filtered = true
		return out
	case mapping.Invalid:
		out.Invalid = true
		out.Payload = r.Track.AppendJSON(make([]byte, 0, trackSize(&r.Track)))
		return out
	}
	out.Payload = r.Track.AppendJSON(make([]byte, 0, trackSize(&r.Track)+t.Room))
	out.Dedupe = t.dedupeKey(e, &r.Track)
	if id := t.Mapper.Identify(b, e, &r.Track); id != nil && (t.MaxItemBytes <= 0 || len(id.JSON) <= t.MaxItemBytes) {
		// An identify over the limit (huge custom traits) is left out: the
		// event itself still goes.
		out.Identify = id
	}
	if t.MaxItemBytes > 0 && len(out.Payload) > t.MaxItemBytes {
		out.Invalid = true
		out.Reason = "message_too_big: " + strconv.Itoa(len(out.Payload)) + " bytes, limit " + strconv.Itoa(t.MaxItemBytes)
		return out
	}
	if extra != nil && extra.Status == mapping.Mapped {
		out.Extra = extra.Track.AppendJSON(make([]byte, 0, trackSize(&extra.Track)+t.Room))
		if t.MaxItemBytes > 0 && len(out.Extra) > t.MaxItemBytes {
			// The whole event is dead-lettered rather than half of it
			// delivered: nothing is lost without a record.
			out.Invalid = true
			out.Reason = "message_too_big: " + extra.Track.Event + " " + strconv.Itoa(len(out.Extra)) + " bytes, limit " + strconv.Itoa(t.MaxItemBytes)
			out.Extra = nil
		}
	}
	if t.Parse != nil && !out.Invalid {
		// A copy for Parse, which may keep it: taking r's address would
		// move the whole Result to the heap on every event, Parse or not.
		track := r.Track
		out.Parsed = t.Parse(b, &track, out.Payload)
		if out.Extra != nil {
			out.ExtraParsed = t.Parse(b, &extra.Track, out.Extra)
		}
	}
	return out
}

// scratchPool holds the buffers Encode maps events into when no Parse
// keeps a Track: an event's properties and context are written there and
// copied into its payload, instead of into a buffer allocated per event
// and collected soon after. Larger events get a buffer of their own, as
// before.
var scratchPool = sync.Pool{New: func() any {
	b := make([]byte, 0, scratchSize)
	return &b
}}

// scratchSize holds the properties and context of all but unusually large
// events (a few hundred bytes to a few KB).
const scratchSize = 8 << 10

// trackSize is room for a Track's JSON unless its strings need escapes:
// the field names and timestamps take under 224 bytes.
func trackSize(t *segment.Track) int {
	return 224 + len(t.Event) + len(t.UserID) + len(t.AnonymousID) + len(t.MessageID) +
		len(t.Properties) + len(t.Context) + len(t.Integrations)
}

// dedupeKey is the exposure's dedupe_exposures key, or "" when the
// destination does not deduplicate or the event is no exposure.
func (t TrackEncoder) dedupeKey(e *statsig.Event, track *segment.Track) string {
	if t.Mapper.DedupeWindow() <= 0 {
		return ""
	}
	unit := track.UserID
	if unit == "" {
		unit = track.AnonymousID
	}
	return mapping.ExposureKey(e, unit)
}
