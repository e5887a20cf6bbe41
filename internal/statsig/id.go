package statsig

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash"
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
// node-core writes maps in random order), plus how many identical events
// came before it in the same request, so two real exposures in the same
// millisecond stay two events. The webhook's timeUUID is used as is.
func (b *Batch) assignIDs(body []byte) {
	h := sha256.New()
	h.Write([]byte(b.KeyID))
	h.Write(body)
	b.ID = uuidFromHash(h.Sum(nil))

	seen := make(map[[32]byte]int, len(b.Events))
	var sum [32]byte
	for i := range b.Events {
		e := &b.Events[i]
		if e.TimeUUID != "" && len(e.TimeUUID) <= 64 {
			e.ID = e.TimeUUID
			continue
		}
		h.Reset()
		writeIdentity(h, b, e)
		h.Sum(sum[:0])
		n := seen[sum]
		seen[sum] = n + 1
		if n > 0 {
			h.Write([]byte(strconv.Itoa(n)))
			h.Sum(sum[:0])
		}
		e.ID = uuidFromHash(sum[:])
	}
}

func writeIdentity(h hash.Hash, b *Batch, e *Event) {
	field := func(s string) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	field(b.KeyID)
	field(b.SessionID)
	field(e.EventName)
	field(strconv.FormatInt(e.Time, 10))
	if e.Time <= 0 {
		field(strconv.FormatInt(b.ClientTime, 10))
	}
	if u := e.User; u != nil {
		field(string(u.UserID))
		keys := make([]string, 0, len(u.CustomIDs))
		for k := range u.CustomIDs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			field(k)
			field(string(u.CustomIDs[k]))
		}
	}
	field(string(e.Value))
	writeCanonical(h, e.Metadata)
}

// writeCanonical hashes a JSON object's members in sorted key order; other
// JSON is hashed as sent.
func writeCanonical(h hash.Hash, raw json.RawMessage) {
	if len(raw) == 0 || raw[0] != '{' {
		h.Write(raw)
		return
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		h.Write(raw)
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{1})
		h.Write(m[k])
		h.Write([]byte{2})
	}
}

// uuidFromHash formats the first 16 bytes of a hash as a name-based
// (version 5 style) UUID: the shape Segment recommends for messageId.
func uuidFromHash(sum []byte) string {
	var u [16]byte
	copy(u[:], sum)
	u[6] = (u[6] & 0x0f) | 0x50
	u[8] = (u[8] & 0x3f) | 0x80
	var out [36]byte
	hex.Encode(out[0:8], u[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], u[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], u[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], u[8:10])
	out[23] = '-'
	hex.Encode(out[24:], u[10:])
	return string(out[:])
}
