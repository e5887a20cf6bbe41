package statsig

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// The binary encoding of a stored Batch. Every batch passes through the
// log once per destination: as JSON, each destination scanned all of it
// again, the raw metadata and secondaryExposures values included, only to
// hand out sub-slices of it. Here every string and raw JSON value is
// length-prefixed, so reading a batch is slicing: no byte of a value is
// looked at.
//
// Layout (uvarint: encoding/binary's unsigned varint; varint: its zig-zag
// signed one; str and raw: a uvarint length, then that many bytes):
//
//	batch: BinaryBatchVersion, str id, str source, varint receivedAt,
//	       varint clientTime, str keyId, str sdkType, str sdkVersion,
//	       str sessionId, str stableId, raw statsigMetadata,
//	       uvarint events (0: null, else 1 + the count), event…
//	event: str id, str eventName, raw value, raw metadata,
//	       raw secondaryExposures, raw statsigMetadata, varint time,
//	       str timeUUID, str unitID, user
//	user:  0 (none), or 1, str userID, str email, str ip, str userAgent,
//	       str country, str locale, str appVersion, raw custom,
//	       uvarint customIDs, (str key, str value)… in key order,
//	       raw statsigEnvironment
//
// An empty str or raw is an absent field. AppendBinary writes the values
// AppendJSON would, so that decoding either gives the same Batch: raw JSON
// validated, compacted and HTML-escaped, strings with invalid UTF-8
// replaced. DecodeBatch does not validate raw values again: the log holds
// what AppendBinary wrote (JetStream and S2 checksum it), and a reader
// that copies them into a payload is as safe as with the JSON encoding
// after a bit flip inside a string.

// BinaryBatchVersion is the first byte of a batch in the binary encoding.
// No JSON text starts with it (it is not even the start of a UTF-8
// character), so one byte tells the two stored encodings apart; a later
// layout takes the next value, which this version refuses.
const BinaryBatchVersion byte = 0xB1

// minEventBinary is the fewest bytes an event takes (every str and raw
// empty, time 0, no user): a count of events is refused when the bytes
// left cannot hold it, so a corrupt count cannot make DecodeBatch allocate
// more than a small multiple of its input: an Event is 176 bytes on 64-bit
// for at least 10 bytes, a User 168 for 10 more (≈ 18×), and 100,000
// distinct customIDs of 4–5 bytes each took 22× as the map grew (the JSON
// decoder allocates an Event for as little as 2 bytes, {}).
const minEventBinary = 10

// ErrCorruptBatch is the error for a binary batch that cannot be read.
var ErrCorruptBatch = errors.New("corrupt binary batch")

// IsBinaryBatch reports whether stored is a batch in the binary encoding
// (of this version or a later one).
func IsBinaryBatch(stored []byte) bool {
	return len(stored) > 0 && stored[0] >= BinaryBatchVersion && stored[0] <= 0xBF
}

// BatchJSON returns a stored batch, in either encoding, as JSON: what a
// person or another program reading a stored batch is shown. A JSON batch
// (written by an earlier version) is returned as it is.
func BatchJSON(stored []byte) ([]byte, error) {
	if !IsBinaryBatch(stored) {
		return stored, nil
	}
	b, err := DecodeBatch(stored)
	if err != nil {
		return nil, err
	}
	return b.AppendJSON(nil)
}

// AppendBinary appends the batch in the binary encoding, the log's stored
// form. It fails, appending nothing, where AppendJSON fails: on a raw
// value that is not JSON.
func (b *Batch) AppendBinary(dst []byte) ([]byte, error) {
	start := len(dst)
	dst = append(dst, BinaryBatchVersion)
	dst = appendBinString(dst, b.ID)
	dst = appendBinString(dst, string(b.Source))
	dst = binary.AppendVarint(dst, b.ReceivedAt)
	dst = binary.AppendVarint(dst, b.ClientTime)
	for _, s := range [...]string{b.KeyID, b.SDKType, b.SDKVersion, b.SessionID, b.StableID} {
		dst = appendBinString(dst, s)
	}
	var err error
	if dst, err = appendBinRaw(dst, b.StatsigMetadata, b.rawValid); err != nil {
		return dst[:start], err
	}
	if b.Events == nil {
		dst = append(dst, 0)
	} else {
		dst = binary.AppendUvarint(dst, uint64(len(b.Events))+1)
	}
	for i := range b.Events {
		if dst, err = b.Events[i].appendBinary(dst, b.rawValid); err != nil {
			return dst[:start], fmt.Errorf("event %d: %w", i, err)
		}
	}
	return dst, nil
}

func (e *Event) appendBinary(dst []byte, valid bool) ([]byte, error) {
	dst = appendBinString(dst, e.ID)
	dst = appendBinString(dst, e.EventName)
	var err error
	for _, raw := range [...]json.RawMessage{e.Value, e.Metadata, e.SecondaryExposures, e.StatsigMetadata} {
		if dst, err = appendBinRaw(dst, raw, valid); err != nil {
			return dst, err
		}
	}
	dst = binary.AppendVarint(dst, e.Time)
	dst = appendBinString(dst, e.TimeUUID)
	dst = appendBinString(dst, e.UnitID)
	if e.User == nil {
		return append(dst, 0), nil
	}
	u := e.User
	dst = append(dst, 1)
	for _, s := range [...]FlexString{u.UserID, u.Email, u.IP, u.UserAgent, u.Country, u.Locale, u.AppVersion} {
		dst = appendBinString(dst, string(s))
	}
	if dst, err = appendBinRaw(dst, u.Custom, valid); err != nil {
		return dst, err
	}
	ids := validKeys(u.CustomIDs)
	dst = binary.AppendUvarint(dst, uint64(len(ids)))
	// A user has a customID or two: their keys are sorted in a buffer on
	// the stack (sortedKeys allocated one per event, ≈ 1 % of intake).
	var buf [8]string
	keys := buf[:0]
	for k := range ids {
		keys = append(keys, k)
	}
	insertionSort(keys)
	for _, k := range keys {
		dst = appendBinString(dst, k)
		dst = appendBinString(dst, string(ids[k]))
	}
	return appendBinRaw(dst, u.StatsigEnvironment, valid)
}

// validKeys returns m, or when a key is not valid UTF-8 (never in what a
// JSON decoder produced), the map AppendJSON's output decodes to: keys
// replaced as appendBinString does, and of keys that become the same, the
// last in AppendJSON's order wins.
func validKeys(m map[string]FlexString) map[string]FlexString {
	for k := range m {
		if utf8.ValidString(k) {
			continue
		}
		out := make(map[string]FlexString, len(m))
		for _, k := range sortedKeys(m) {
			out[JSONText(k)] = m[k]
		}
		return out
	}
	return m
}

// appendBinString appends s as AppendJSON's output decodes: invalid UTF-8
// (never in what a JSON decoder produced) becomes U+FFFD byte by byte.
func appendBinString(dst []byte, s string) []byte {
	s = JSONText(s)
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// JSONText returns s as a JSON encoder writes it and a decoder reads it
// back: each byte that is not part of a valid UTF-8 sequence becomes
// U+FFFD, as json.Marshal does (strings.ToValidUTF8 would replace a run of
// them with one). Valid text, nearly all, is returned as it is.
func JSONText(s string) string {
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

// appendBinRaw appends a raw JSON value as AppendJSON writes it; an empty
// one is an absent field, as AppendJSON leaves it out. valid says a JSON
// decoder checked the value already (Batch.rawValid): then a value with no
// whitespace byte and nothing json.Marshal escapes is its own normal form,
// told by a few vectorised byte searches instead of a scan (the scan was
// ≈ 5 % of a Segment-only run's CPU).
func appendBinRaw(dst []byte, raw json.RawMessage, valid bool) ([]byte, error) {
	if len(raw) == 0 {
		return append(dst, 0), nil
	}
	norm := []byte(raw)
	if !valid || !plainJSON(raw) {
		var err error
		if norm, err = normalizeRaw(raw); err != nil {
			return dst, err
		}
	}
	dst = binary.AppendUvarint(dst, uint64(len(norm)))
	return append(dst, norm...), nil
}

// plainJSON reports that raw, if it is valid JSON, is as json.Marshal
// writes it: no whitespace byte anywhere (so none between tokens) and
// nothing it escapes (<, >, &, U+2028, U+2029).
func plainJSON(raw []byte) bool {
	return bytes.IndexByte(raw, ' ') < 0 && bytes.IndexByte(raw, '\n') < 0 && bytes.IndexByte(raw, '\t') < 0 &&
		bytes.IndexByte(raw, '\r') < 0 && !needsHTMLEscape(raw)
}

// binReader reads the binary encoding. Strings are substrings of text,
// data as a string: the Batch shares the input's memory, as the JSON
// decoder's does.
type binReader struct {
	data []byte
	text string
	pos  int
	err  error
	// lastUser is the user the previous event had.
	lastUser sharedUser
}

func (r *binReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s at byte %d of %d", ErrCorruptBatch, what, r.pos, len(r.data))
	}
}

func (r *binReader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.data[r.pos:])
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.pos += n
	return v
}

func (r *binReader) varint(what string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.data[r.pos:])
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.pos += n
	return v
}

// span reads a length and returns the bounds of that many bytes after it.
func (r *binReader) span(what string) (start, end int) {
	n := r.uvarint(what)
	if r.err != nil {
		return 0, 0
	}
	if n > uint64(len(r.data)-r.pos) {
		r.fail(what + " longer than the batch")
		return 0, 0
	}
	start = r.pos
	r.pos += int(n)
	return start, r.pos
}

func (r *binReader) str(what string) string {
	start, end := r.span(what)
	return r.text[start:end]
}

// raw reads a raw JSON value; nil when absent.
func (r *binReader) raw(what string) json.RawMessage {
	start, end := r.span(what)
	if start == end {
		return nil
	}
	return r.data[start:end:end]
}

func (r *binReader) byte(what string) byte {
	if r.err != nil {
		return 0
	}
	if r.pos >= len(r.data) {
		r.fail(what)
		return 0
	}
	c := r.data[r.pos]
	r.pos++
	return c
}

// decodeBinaryBatch decodes a batch written by AppendBinary.
func decodeBinaryBatch(data []byte) (*Batch, error) {
	if data[0] != BinaryBatchVersion {
		return nil, fmt.Errorf("%w: version byte %#x is from a later bridge (this one reads %#x)", ErrCorruptBatch, data[0], BinaryBatchVersion)
	}
	r := binReader{data: data, text: unsafeString(data), pos: 1}
	b := &Batch{}
	b.ID = r.str("id")
	b.Source = Source(r.str("source"))
	b.ReceivedAt = r.varint("receivedAt")
	b.ClientTime = r.varint("clientTime")
	b.KeyID = r.str("keyId")
	b.SDKType = r.str("sdkType")
	b.SDKVersion = r.str("sdkVersion")
	b.SessionID = r.str("sessionId")
	b.StableID = r.str("stableId")
	b.StatsigMetadata = r.raw("statsigMetadata")
	if n := r.uvarint("event count"); n > 0 {
		n--
		if n > uint64((len(data)-r.pos)/minEventBinary) {
			r.fail(fmt.Sprintf("%d events", n))
		} else {
			b.Events = make([]Event, n)
			for i := 0; i < len(b.Events) && r.err == nil; i++ {
				r.event(&b.Events[i])
			}
		}
	}
	if r.err == nil && r.pos != len(data) {
		r.fail("bytes after the last event")
	}
	if r.err != nil {
		return nil, r.err
	}
	return b, nil
}

func (r *binReader) event(e *Event) {
	e.ID = r.str("event id")
	e.EventName = r.str("eventName")
	e.Value = r.raw("value")
	e.Metadata = r.raw("metadata")
	e.SecondaryExposures = r.raw("secondaryExposures")
	e.StatsigMetadata = r.raw("statsigMetadata")
	e.Time = r.varint("time")
	e.TimeUUID = r.str("timeUUID")
	e.UnitID = r.str("unitID")
	// An event whose user is written byte for byte as the previous event's
	// shares its *User, as the intake's events did (scanner.sharedUser):
	// the User and its customIDs map come once per run of events of one
	// user. Equal bytes read equally: what read them once reads them again,
	// as every length and count in them is met by bytes within them.
	start := r.pos
	if last := r.lastUser; last.user != nil && r.err == nil && bytes.HasPrefix(r.data[start:], last.raw) {
		r.pos += len(last.raw)
		e.User = last.user
		return
	}
	switch r.byte("user") {
	case 0:
		return
	case 1:
	default:
		r.pos--
		r.fail("user marker")
		return
	}
	u := &User{}
	e.User = u
	for _, f := range [...]*FlexString{&u.UserID, &u.Email, &u.IP, &u.UserAgent, &u.Country, &u.Locale, &u.AppVersion} {
		*f = FlexString(r.str("user string"))
	}
	u.Custom = r.raw("custom")
	if n := r.uvarint("customIDs count"); n > 0 {
		// A key and a value take at least a byte each.
		if n > uint64((len(r.data)-r.pos)/2) {
			r.fail(fmt.Sprintf("%d customIDs", n))
			return
		}
		// Sized for the distinct keys a real user has, not for n: keys
		// repeated n times would reserve room for n.
		u.CustomIDs = make(map[string]FlexString, min(n, 16))
		for range n {
			k := r.str("customIDs key")
			u.CustomIDs[k] = FlexString(r.str("customIDs value"))
		}
	}
	u.StatsigEnvironment = r.raw("statsigEnvironment")
	if r.err == nil {
		r.lastUser = sharedUser{raw: r.data[start:r.pos], user: u}
	}
}
