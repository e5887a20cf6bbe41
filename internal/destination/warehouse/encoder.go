package warehouse

import (
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/segment"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// Encoder makes the warehouse's items: the mapped Track message plus the
// two times Segment's receiver adds, which the warehouse loader stands in
// for: receivedAt (when the bridge received the event) and sentAt (when the
// client sent it, if it said). The Segment destination never adds them:
// Segment sets them itself.
type Encoder struct {
	Track destination.TrackEncoder
}

var _ destination.Encoder = Encoder{}

// Encode implements destination.Encoder.
func (e Encoder) Encode(b *statsig.Batch, ev *statsig.Event) destination.Encoded {
	enc := e.Track
	enc.Parse = keepMapped // the rows' source, for Writer.WriteParsed
	out := enc.Encode(b, ev)
	if out.Filtered || out.Invalid {
		return out
	}
	out.Payload = appendTimes(out.Payload, b)
	if out.Extra != nil {
		out.Extra = appendTimes(out.Extra, b)
	}
	if out.Identify != nil {
		id := *out.Identify
		id.JSON = appendTimes(id.JSON, b)
		out.Identify = &id
	}
	return out
}

// TimesRoom is what appendTimes adds at most: give it to the Track
// encoder's Room so the message is not copied to grow.
const TimesRoom = len(`,"receivedAt":"2006-01-02T15:04:05.000Z","sentAt":"2006-01-02T15:04:05.000Z"`)

// appendTimes adds receivedAt and sentAt to a Track message's JSON object.
func appendTimes(msg []byte, b *statsig.Batch) []byte {
	if len(msg) == 0 || msg[len(msg)-1] != '}' {
		return msg
	}
	msg = msg[:len(msg)-1]
	if b.ReceivedAt > 0 {
		msg = append(msg, `,"receivedAt":"`...)
		msg = time.UnixMilli(b.ReceivedAt).UTC().AppendFormat(msg, segment.TimeFormat)
		msg = append(msg, '"')
	}
	if b.ClientTime > 0 {
		msg = append(msg, `,"sentAt":"`...)
		msg = time.UnixMilli(b.ClientTime).UTC().AppendFormat(msg, segment.TimeFormat)
		msg = append(msg, '"')
	}
	return append(msg, '}')
}
