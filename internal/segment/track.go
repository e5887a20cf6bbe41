package segment

import (
	"encoding/json"
	"errors"
	"time"
	"unicode/utf8"
)

// Segment's limits, counted in decimal bytes of uncompressed JSON as
// analytics-go does (the stricter reading of "32 KB" and "500 KB").
// MaxMessageIDLen is in bytes too: the HTTP API asks for "fewer than 100"
// characters and the spec says "limited to 100" (segment-reference §9.4);
// the stricter reading, 99, is conformance check 10's.
const (
	MaxMessageBytes = 32_000
	MaxBatchBytes   = 500_000
	MaxBatchItems   = 2_500
	MaxMessageIDLen = 99
)

// Ingest discard codes, as Segment reports them.
var (
	ErrNoUserAnonID    = errors.New("no_user_anon_id")
	ErrEventNotDefined = errors.New("event_not_defined")
	ErrMessageTooBig   = errors.New("message_too_big")
	ErrMessageIDLength = errors.New("message_id_too_long")
)

// Track is a Segment Track call. Properties, Context and Integrations are
// prebuilt JSON objects: the caller copies Statsig's metadata through as raw
// bytes instead of building maps.
type Track struct {
	MessageID         string
	Event             string
	UserID            string
	AnonymousID       string
	Timestamp         time.Time
	OriginalTimestamp time.Time
	Properties        json.RawMessage
	Context           json.RawMessage
	Integrations      json.RawMessage
}

// Validate applies the checks Segment applies only after answering 200, so a
// sender can report them instead of losing events silently.
func (t *Track) Validate() error {
	switch {
	case t.Event == "":
		return ErrEventNotDefined
	case t.UserID == "" && t.AnonymousID == "":
		return ErrNoUserAnonID
	case len(t.MessageID) == 0 || len(t.MessageID) > MaxMessageIDLen:
		return ErrMessageIDLength
	}
	return nil
}

// TimeFormat is how the bridge writes timestamps: RFC 3339, UTC, milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// AppendJSON appends the message's JSON to b. Fields are written in a fixed
// order and empty ones are left out (Segment drops events with some empty
// strings, such as context.groupId "").
func (t *Track) AppendJSON(b []byte) []byte {
	b = append(b, `{"type":"track","event":`...)
	b = AppendString(b, t.Event)
	if t.UserID != "" {
		b = append(b, `,"userId":`...)
		b = AppendString(b, t.UserID)
	}
	if t.AnonymousID != "" {
		b = append(b, `,"anonymousId":`...)
		b = AppendString(b, t.AnonymousID)
	}
	b = append(b, `,"messageId":`...)
	b = AppendString(b, t.MessageID)
	if !t.Timestamp.IsZero() {
		b = append(b, `,"timestamp":"`...)
		b = appendTime(b, t.Timestamp)
		b = append(b, '"')
	}
	if !t.OriginalTimestamp.IsZero() {
		b = append(b, `,"originalTimestamp":"`...)
		b = appendTime(b, t.OriginalTimestamp)
		b = append(b, '"')
	}
	if len(t.Properties) > 0 {
		b = append(b, `,"properties":`...)
		b = append(b, t.Properties...)
	}
	if len(t.Context) > 0 {
		b = append(b, `,"context":`...)
		b = append(b, t.Context...)
	}
	if len(t.Integrations) > 0 {
		b = append(b, `,"integrations":`...)
		b = append(b, t.Integrations...)
	}
	return append(b, '}')
}

// appendTime appends t in TimeFormat: the bytes of
// t.UTC().AppendFormat(b, TimeFormat) (milliseconds truncated), written
// without interpreting the layout. Years outside 0–9999, which AppendFormat
// writes differently, take AppendFormat.
func appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, TimeFormat)
	}
	hour, minute, sec := t.Clock()
	ms := t.Nanosecond() / 1e6
	return append(b,
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+int(month)/10), byte('0'+int(month)%10), '-',
		byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':',
		byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+sec/10), byte('0'+sec%10), '.',
		byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. Unlike strconv.AppendQuote it
// writes only JSON escapes, and replaces invalid UTF-8 with U+FFFD.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		// Eight plain bytes at a time: IDs, names and emails are
		// mostly nothing else.
		if i = plainWords(s, i); i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// plainWords returns where, from i on, the first group of 8 bytes of s
// that are not all printable ASCII other than the quote and the backslash
// (bytes AppendString copies as they are) starts, or where fewer than 8
// bytes are left. The tests are the word-at-a-time "some byte is below n"
// of Bit Twiddling Hacks, exact as a yes or no: a subtraction borrows only
// out of a byte that is below n, so a byte is flagged wrongly only above
// one flagged rightly (and bytes from 0x80 up are refused before that
// matters).
func plainWords(s string, i int) int {
	const (
		ones = 0x0101010101010101
		tops = 0x8080808080808080
	)
	for ; i+8 <= len(s); i += 8 {
		w := s[i : i+8]
		x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		q, bs := x^('"'*ones), x^('\\'*ones)
		bad := x & tops                    // from 0x80 up: UTF-8 to check
		bad |= (x - 0x20*ones) & ^x & tops // below 0x20: control characters
		bad |= (q - ones) & ^q & tops      // a quote
		bad |= (bs - ones) & ^bs & tops    // a backslash
		if bad != 0 {
			return i
		}
	}
	return i
}
