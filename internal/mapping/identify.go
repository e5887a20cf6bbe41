package mapping

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"

	"github.com/statsig-bridge/statsig-bridge/internal/segment"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// identifySalt derives an identify's messageId from its unit and traits.
const identifySalt = "identify"

// Identify is the Segment identify of the user behind a mapped event
// (identify: on_change), and what tells whether it is due: the runner sends
// it the first time it sees Unit and again when TraitsHash changes.
type Identify struct {
	// Unit is the SHA-256 hex of the unit (the outgoing userId, else
	// anonymousId): the state's key, so no identifier is a key name.
	Unit string
	// TraitsHash is the SHA-256 hex of the traits as sent.
	TraitsHash string
	// JSON is the identify message. Its messageId derives from the unit
	// and TraitsHash: a resend of the same traits (a crash after sending,
	// before the state was recorded) is deduplicated by Segment.
	JSON []byte
}

// Identify returns the identify for a mapped Track of event e, or nil when
// the destination does not send identifies. Traits: email (as the email
// option says: the address, its SHA-256 as email_sha256, or none), country,
// locale, appVersion, ip and userAgent only with ip_and_user_agent, and
// each field of user.custom as a top-level trait (plan, not custom.plan;
// a custom field named like one of the others does not replace it). The
// user_traits option does not apply: identify exists to send traits.
func (m *Mapper) Identify(b *statsig.Batch, e *statsig.Event, t *segment.Track) *Identify {
	if m.opts.Identify != mappingconfig.IdentifyOnChange {
		return nil
	}
	unit := t.UserID
	if unit == "" {
		unit = t.AnonymousID
	}
	if unit == "" {
		return nil
	}
	traits := m.identifyTraits(e.User)
	sum := sha256.Sum256(traits)
	hash := hex.EncodeToString(sum[:])
	usum := sha256.Sum256([]byte(unit))
	id := statsig.DeriveID(unit, identifySalt+"/"+hash)

	msg := make([]byte, 0, 160+len(traits)+len(t.Context)+len(t.UserID)+len(t.AnonymousID))
	msg = append(msg, `{"type":"identify"`...)
	if t.UserID != "" {
		msg = append(msg, `,"userId":`...)
		msg = segment.AppendString(msg, t.UserID)
	}
	if t.AnonymousID != "" {
		msg = append(msg, `,"anonymousId":`...)
		msg = segment.AppendString(msg, t.AnonymousID)
	}
	msg = append(msg, `,"messageId":`...)
	msg = segment.AppendString(msg, id)
	if !t.Timestamp.IsZero() {
		msg = append(msg, `,"timestamp":"`...)
		msg = t.Timestamp.UTC().AppendFormat(msg, segment.TimeFormat)
		msg = append(msg, '"')
	}
	if !t.OriginalTimestamp.IsZero() {
		msg = append(msg, `,"originalTimestamp":"`...)
		msg = t.OriginalTimestamp.UTC().AppendFormat(msg, segment.TimeFormat)
		msg = append(msg, '"')
	}
	msg = append(msg, `,"traits":`...)
	msg = append(msg, traits...)
	if len(t.Context) > 0 {
		msg = append(msg, `,"context":`...)
		msg = append(msg, t.Context...)
	}
	msg = append(msg, '}')
	return &Identify{Unit: hex.EncodeToString(usum[:]), TraitsHash: hash, JSON: msg}
}

// identifyTraits returns the traits object of an identify, its members in
// a fixed order (custom fields sorted by name) so that equal traits hash
// equal.
func (m *Mapper) identifyTraits(u *statsig.User) json.RawMessage {
	c := []byte{'{'}
	if u == nil {
		return append(c, '}')
	}
	seen := map[string]bool{}
	field := func(k string, v json.RawMessage) {
		if len(c) > 1 {
			c = append(c, ',')
		}
		c = segment.AppendString(c, k)
		c = append(c, ':')
		c = append(c, v...)
		seen[k] = true
	}
	str := func(k, v string) {
		if v != "" {
			field(k, segment.AppendString(nil, v))
		}
	}
	switch m.opts.Email {
	case mappingconfig.EmailTrait:
		str("email", string(u.Email))
	case mappingconfig.EmailHash:
		if u.Email != "" {
			str("email_sha256", hashEmail(string(u.Email)))
		}
	}
	str("country", string(u.Country))
	str("locale", string(u.Locale))
	str("appVersion", string(u.AppVersion))
	if m.opts.IPAndUserAgent {
		str("ip", string(u.IP))
		str("userAgent", string(u.UserAgent))
	}
	if len(u.Custom) > 0 && u.Custom[0] == '{' {
		if members, err := statsig.ObjectMembers(u.Custom); err == nil {
			for _, mb := range members {
				// With email: drop or hash, a custom "email" must not bring
				// the address back.
				if seen[mb.Name] || mb.Name == "email" || mb.Name == "email_sha256" || mb.Name == "" {
					continue
				}
				field(mb.Name, mb.Value)
			}
		}
	}
	return append(c, '}')
}
