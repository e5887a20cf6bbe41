package warehouse

import (
	"errors"
	"time"
	"unicode/utf8"

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
		ID:          jsonText(t.MessageID),
		EventText:   jsonText(t.Event),
		UserID:      jsonText(t.UserID),
		AnonymousID: jsonText(t.AnonymousID),
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

// mapped is a message's mapped Track and its batch's times: what Encoder
// hands the Writer beside the payload (TrackEncoder.Parse), from which the
// Writer builds the row. The row is built by the Writer's workers, not
// here: the encoder runs on the fetch loop, and a built row (a field, a
// string and a boxed value per column) held in the runner's queues cost
// more memory and garbage-collector marking than the Track, whose context
// and properties are one byte buffer.
type mapped struct {
	track                  segment.Track
	receivedAt, clientTime int64
}

// keepMapped is TrackEncoder.Parse for the warehouse.
func keepMapped(b *statsig.Batch, t *segment.Track) any {
	return &mapped{track: *t, receivedAt: b.ReceivedAt, clientTime: b.ClientTime}
}

// row builds the message's row; false when it cannot be built, so the
// Writer reads the message and reports why as it always has.
func (m *mapped) row() (wh.Row, bool) {
	r, err := trackRow(&m.track, m.receivedAt, m.clientTime)
	return r, err == nil
}

// jsonText is s as segment.AppendString writes it and a JSON reader reads
// it back: each byte of invalid UTF-8 becomes U+FFFD.
func jsonText(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	out := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, s[i:i+size]...)
		}
		i += size
	}
	return string(out)
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
