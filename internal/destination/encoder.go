package destination

import (
	"strconv"

	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
	"github.com/statsig-bridge/statsig-bridge/internal/segment"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// TrackEncoder encodes events as Segment Track messages through a mapping.
type TrackEncoder struct {
	Mapper *mapping.Mapper
	// MaxItemBytes refuses messages over the target's per-message limit.
	MaxItemBytes int
}

// Encode implements Encoder.
func (t TrackEncoder) Encode(b *statsig.Batch, e *statsig.Event) Encoded {
	r := t.Mapper.Map(b, e)
	out := Encoded{Kind: r.Kind, Reason: r.Reason, Note: r.Note, Event: r.Track.Event}
	switch r.Status {
	case mapping.Filtered:
		out.Filtered = true
		return out
	case mapping.Invalid:
		out.Invalid = true
		out.Payload = r.Track.AppendJSON(nil)
		return out
	}
	out.Payload = r.Track.AppendJSON(make([]byte, 0, trackSize(&r.Track)))
	if t.MaxItemBytes > 0 && len(out.Payload) > t.MaxItemBytes {
		out.Invalid = true
		out.Reason = "message_too_big: " + strconv.Itoa(len(out.Payload)) + " bytes, limit " + strconv.Itoa(t.MaxItemBytes)
	}
	return out
}

// trackSize is room for a Track's JSON unless its strings need escapes:
// the field names and timestamps take under 224 bytes.
func trackSize(t *segment.Track) int {
	return 224 + len(t.Event) + len(t.UserID) + len(t.AnonymousID) + len(t.MessageID) +
		len(t.Properties) + len(t.Context) + len(t.Integrations)
}
