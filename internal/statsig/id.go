package statsig

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"
)

// KeyID returns a short one-way hash of an SDK key: enough to tell senders
// apart in event identities, useless to anyone who reads the log.
func KeyID(key string) string {
	if key == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("statsig-bridge/key:" + key))
	return hex.EncodeToString(sum[:6])
}

// assignIDs gives the batch and each of its events a deterministic identity.
//
// No Statsig SDK sends an event ID, and SDKs resend whole batches on failure
// (Go byte for byte; node-core with the same events in a new envelope). An
// event's ID is therefore a hash of who sent it (SDK key, session) and what
// it is (name, time, user IDs, value, metadata with keys sorted, because
// node-core writes maps in random order, and every value in canonical form,
// see appendCanonicalJSON, so a re-encoding keeps the ID), plus how many identical events
// came before it in the same request, so two real exposures in the same
// millisecond stay two events. The webhook's timeUUID is used as is.
func (b *Batch) assignIDs(body []byte) {
	h := sha256.New()
	h.Write([]byte(b.KeyID))
	h.Write(body)
	b.ID = uuidFromHash(h.Sum(nil))

	seen := make(map[[32]byte]int, len(b.Events))
	// Each event's identity is written into one reused buffer and hashed in
	// one call: the same digest as writing the fields one by one, without
	// an allocation per field.
	var (
		buf     = make([]byte, 0, 1024)
		room    [32]member // metadata members: enough for any SDK's
		members = room[:0]
		// The events' IDs are written side by side and made one string:
		// one allocation per request instead of one per event.
		ids = make([]byte, 0, uuidLen*len(b.Events))
	)
	for i := range b.Events {
		e := &b.Events[i]
		if e.hasTimeUUID() {
			e.ID = e.TimeUUID
			continue
		}
		buf, members = appendIdentity(buf[:0], members, b, e)
		sum := sha256.Sum256(buf)
		n := seen[sum]
		seen[sum] = n + 1
		if n > 0 {
			buf = strconv.AppendInt(buf, int64(n), 10)
			sum = sha256.Sum256(buf)
		}
		ids = appendUUID(ids, sum[:])
	}
	// ids is complete and never written again: the string may share it.
	text := unsafeString(ids)
	for i := range b.Events {
		if e := &b.Events[i]; !e.hasTimeUUID() {
			e.ID, text = text[:uuidLen], text[uuidLen:]
		}
	}
}

// hasTimeUUID reports whether the event's ID is the timeUUID it came with
// (Statsig's webhook sends one).
func (e *Event) hasTimeUUID() bool { return e.TimeUUID != "" && len(e.TimeUUID) <= 64 }

// appendIdentity appends what identifies an event: fields separated by 0
// bytes, metadata in canonical form. members is scratch space.
func appendIdentity(buf []byte, members []member, b *Batch, e *Event) ([]byte, []member) {
	buf = appendField(buf, b.KeyID)
	buf = appendField(buf, b.SessionID)
	buf = appendField(buf, e.EventName)
	buf = strconv.AppendInt(buf, e.Time, 10)
	buf = append(buf, 0)
	if e.Time <= 0 {
		buf = strconv.AppendInt(buf, b.ClientTime, 10)
		buf = append(buf, 0)
	}
	if u := e.User; u != nil {
		buf = appendField(buf, string(u.UserID))
		switch len(u.CustomIDs) {
		case 0:
		case 1:
			for k, v := range u.CustomIDs {
				buf = appendField(buf, k)
				buf = appendField(buf, string(v))
			}
		default:
			// Room for the usual few on the stack: no allocation per event.
			var room [8]string
			keys := room[:0]
			for k := range u.CustomIDs {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				buf = appendField(buf, k)
				buf = appendField(buf, string(u.CustomIDs[k]))
			}
		}
	}
	buf = appendCanonicalJSON(buf, e.Value)
	buf = append(buf, 0)
	return appendCanonical(buf, members, e.Metadata)
}

func appendField(buf []byte, s string) []byte {
	buf = append(buf, s...)
	return append(buf, 0)
}

// member is one name and raw value of a JSON object.
type member struct {
	name, value []byte
}

// appendCanonical appends a JSON object's members in sorted name order, as
// name 1 value 2; other JSON is appended as sent. (node-core writes maps in
// random order; the same metadata must give the same ID.)
func appendCanonical(buf []byte, members []member, raw json.RawMessage) ([]byte, []member) {
	if len(raw) == 0 || raw[0] != '{' {
		return appendCanonicalJSON(buf, raw), members
	}
	members, flat := flatMembers(members[:0], raw)
	if flat {
		// Strings without escapes: their canonical form is as sent.
		return appendSortedMembers(buf, members, false), members
	}
	if out, ok := appendSortedObject(buf, raw); ok {
		return out, members
	}
	return appendCanonicalMembers(buf, members, raw)
}

// appendCanonicalMembers is appendCanonical for any object: its members
// listed, sorted and written.
func appendCanonicalMembers(buf []byte, members []member, raw json.RawMessage) ([]byte, []member) {
	members, ok := objectMembers(members[:0], raw)
	if !ok {
		return appendCanonicalSlow(buf, raw), members
	}
	return appendSortedMembers(buf, members, true), members
}

// appendSortedMembers sorts members by name and appends them as name 1
// value 2, each value in canonical form unless canonicalise is false (the
// caller knows they are).
func appendSortedMembers(buf []byte, members []member, canonicalise bool) []byte {
	// Stable, so that of repeated names the last one, which encoding/json
	// would keep, ends each run. (Sorted input, as most is, costs one
	// comparison per member.)
	slices.SortStableFunc(members, func(a, b member) int { return bytes.Compare(a.name, b.name) })
	for i, m := range members {
		if i+1 < len(members) && bytes.Equal(m.name, members[i+1].name) {
			continue
		}
		buf = append(buf, m.name...)
		buf = append(buf, 1)
		if canonicalise {
			buf = appendCanonicalJSON(buf, m.value)
		} else {
			buf = append(buf, m.value...)
		}
		buf = append(buf, 2)
	}
	return buf
}

// appendSortedObject is appendCanonical in one pass for the objects most
// senders write (encoding/json and the Go SDK sort map keys): plain names in
// strictly ascending order, so there is nothing to sort and no name twice,
// and each value is put in canonical form as it is read instead of being
// scanned once to list it and again to canonicalise it. For any other
// object it fails, with buf as it was, and appendCanonical takes the
// general way.
func appendSortedObject(buf []byte, raw []byte) ([]byte, bool) {
	start := len(buf)
	s := scanner{data: raw}
	var prev []byte
	ok := s.members(func(name []byte) bool {
		if prev != nil && bytes.Compare(prev, name) >= 0 {
			return false
		}
		prev = name
		buf = append(buf, name...)
		buf = append(buf, 1)
		var ok bool
		if buf, ok = s.canonical(buf); !ok {
			return false
		}
		buf = append(buf, 2)
		return true
	})
	if !ok || !s.atEnd() {
		return buf[:start], false
	}
	return buf, true
}

// objectMembers lists the members of a JSON object whose names are plain
// (see scanner.key); it fails for anything else.
func objectMembers(dst []member, raw []byte) ([]member, bool) {
	s := scanner{data: raw}
	return s.objectMembers(dst)
}

// objectMembers lists the members of the object that is s's whole input
// (see objectMembers).
func (s *scanner) objectMembers(dst []member) ([]member, bool) {
	ok := s.members(func(name []byte) bool {
		v, ok := s.value()
		dst = append(dst, member{name, v})
		return ok
	})
	return dst, ok && s.atEnd()
}

// appendCanonicalSlow is appendCanonical through encoding/json, for objects
// with escaped names.
func appendCanonicalSlow(buf []byte, raw json.RawMessage) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return append(buf, raw...)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		buf = append(buf, k...)
		buf = append(buf, 1)
		buf = appendCanonicalJSON(buf, m[k])
		buf = append(buf, 2)
	}
	return buf
}

// uuidFromHash formats the first 16 bytes of a hash as a name-based
// (version 5 style) UUID: the shape Segment recommends for messageId.
func uuidFromHash(sum []byte) string {
	return string(appendUUID(make([]byte, 0, uuidLen), sum))
}

// uuidLen is the length of a UUID's text.
const uuidLen = 36

// appendUUID appends uuidFromHash(sum).
func appendUUID(dst, sum []byte) []byte {
	var u [16]byte
	copy(u[:], sum)
	u[6] = (u[6] & 0x0f) | 0x50
	u[8] = (u[8] & 0x3f) | 0x80
	var out [uuidLen]byte
	hex.Encode(out[0:8], u[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], u[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], u[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], u[8:10])
	out[23] = '-'
	hex.Encode(out[24:], u[10:])
	return append(dst, out[:]...)
}
