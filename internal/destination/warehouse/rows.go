package warehouse

import (
	"bytes"
	"errors"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/segment"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
	wh "github.com/statsig-bridge/statsig-bridge/internal/warehouse"
)

// trackRow is the Row wh.ParseTrack reads from the message Encoder makes of
// t (t's JSON plus receivedAt and sentAt from the batch's receivedAt and
// clientTime, Unix ms, 0 for none), built from t itself:
// writing the message and reading it back cost about a quarter of the
// warehouse's CPU (BENCHMARKS.md, "Postgres warehouse: rows built
// directly"). The strings and times are what the JSON round trip makes
// of them; the context and properties are flattened by the same code as
// ParseTrack's. TestTrackRowMatchesParseTrack and FuzzTrackRow hold the
// two equal.
func trackRow(t *segment.Track, receivedAt, clientTime int64) (wh.Row, error) {
	r := wh.Row{
		ID:          statsig.JSONText(t.MessageID),
		EventText:   statsig.JSONText(t.Event),
		UserID:      statsig.JSONText(t.UserID),
		AnonymousID: statsig.JSONText(t.AnonymousID),
	}
	var err error
	if r.Timestamp, err = jsonTime(t.Timestamp); err != nil {
		return wh.Row{}, err
	}
	if r.OriginalTimestamp, err = jsonTime(t.OriginalTimestamp); err != nil {
		return wh.Row{}, err
	}
	if receivedAt > 0 {
		if r.ReceivedAt, err = jsonTime(time.UnixMilli(receivedAt)); err != nil {
			return wh.Row{}, err
		}
	}
	if clientTime > 0 {
		if r.SentAt, err = jsonTime(time.UnixMilli(clientTime)); err != nil {
			return wh.Row{}, err
		}
	}
	return wh.NewRow(r, t.Context, t.Properties)
}

// mapped is what Encoder hands the Writer beside a message
// (TrackEncoder.Parse), from which the Writer builds the row: the mapped
// Track's strings and times, its batch's times, and where the context and
// properties are in the message (AppendJSON copies them in verbatim). The
// row is built by the Writer's workers, not on the fetch loop that
// encodes, and nothing is held twice while batches wait in the runner's
// queues: a built row (a field, a string and a boxed value per column) or
// the Track's own context and properties buffer cost 15-40 MB of RSS there.
type mapped struct {
	track                  segment.Track // without Context, Properties, Integrations
	receivedAt, clientTime int64
	ctx, props             [2]int // offsets in the message
}

// keepMapped is TrackEncoder.Parse for the warehouse: nil when the context
// and properties are not where AppendJSON puts them, so the Writer reads
// the message (TestParsedRowsMatchParseTrack fails if that happens).
func keepMapped(b *statsig.Batch, t *segment.Track, msg []byte) any {
	m := &mapped{receivedAt: b.ReceivedAt, clientTime: b.ClientTime}
	end := len(msg) - 1 // the closing brace
	if len(t.Integrations) > 0 {
		end -= len(`,"integrations":`) + len(t.Integrations)
	}
	var ok bool
	if m.ctx, end, ok = locate(msg, end, `,"context":`, t.Context); !ok {
		return nil
	}
	if m.props, _, ok = locate(msg, end, `,"properties":`, t.Properties); !ok {
		return nil
	}
	m.track = *t
	m.track.Context, m.track.Properties, m.track.Integrations = nil, nil, nil
	return m
}

// locate checks that msg holds key and then value just before end, and
// returns value's offsets and where key starts; an empty value is not in
// msg at all (AppendJSON leaves it out).
func locate(msg []byte, end int, key string, value []byte) (at [2]int, keyStart int, ok bool) {
	if len(value) == 0 {
		return [2]int{}, end, true
	}
	start := end - len(value)
	keyStart = start - len(key)
	if keyStart < 0 || string(msg[keyStart:start]) != key || !bytes.Equal(msg[start:end], value) {
		return [2]int{}, 0, false
	}
	return [2]int{start, end}, keyStart, true
}

// row builds the row of msg, the message m was made beside (receivedAt and
// sentAt appended after it do not move the offsets); false when it cannot
// be built, so the Writer reads the message and reports why as it always
// has.
func (m *mapped) row(msg []byte) (wh.Row, bool) {
	if m.ctx[1] > len(msg) || m.props[1] > len(msg) {
		return wh.Row{}, false
	}
	t := m.track
	t.Context, t.Properties = msg[m.ctx[0]:m.ctx[1]], msg[m.props[0]:m.props[1]]
	r, err := trackRow(&t, m.receivedAt, m.clientTime)
	return r, err == nil
}

var errYear = errors.New("a time outside the years 0–9999 is not an RFC 3339 time")

// jsonTime is t as the message holds it (segment.TimeFormat: UTC,
// milliseconds truncated) and ParseTrack reads it back; the zero time
// stays zero (the message leaves it out). Years outside 0–9999 do not read
// back as RFC 3339, so they are an error there and here.
func jsonTime(t time.Time) (time.Time, error) {
	if t.IsZero() {
		return time.Time{}, nil
	}
	u := t.UTC()
	year, month, day := u.Date()
	if year < 0 || year > 9999 {
		return time.Time{}, errYear
	}
	hour, minute, sec := u.Clock()
	return time.Date(year, month, day, hour, minute, sec, u.Nanosecond()/1e6*1e6, time.UTC).UTC(), nil
}
