package statsig

import (
	"bytes"
	"math"
	"slices"
	"strconv"
)

// appendCanonicalJSON appends raw, one JSON value, in the canonical form an
// event's identity is computed from, so that any re-encoding of the same
// values (a proxy, an export re-imported, a webhook relay writing non-ASCII
// as \u escapes, or pretty-printing) keeps the event's ID:
//
//   - no whitespace between tokens; an object's members sorted by name (of
//     repeated names the last, which encoding/json keeps), elements in order;
//   - a string is its decoded value written with only the escapes JSON
//     requires: \" \\ \b \f \n \r \t, and \u00xx for other control
//     characters; everything else as UTF-8 (an invalid byte becomes U+FFFD,
//     as encoding/json decodes it);
//   - an integer literal is kept as written; a number with a fraction or
//     an exponent is written as encoding/json (and JavaScript) writes the
//     float64 it denotes: 1.0 → 1, 1e2 → 100, 1.50 → 1.5.
//
// That is what every official SDK already writes (JSON.stringify, Go's
// encoding/json except its HTML escapes of < > &), so the IDs of events
// as the SDKs send them are the same bytes as before canonical form
// existed. raw that is not valid JSON is appended as it is.
func appendCanonicalJSON(buf, raw []byte) []byte {
	s := scanner{data: raw}
	out, ok := s.canonical(buf)
	if !ok || !s.atEnd() {
		return append(buf, raw...)
	}
	return out
}

// canonical appends the value that is next in canonical form.
func (s *scanner) canonical(buf []byte) ([]byte, bool) {
	switch c := s.peek(); c {
	case '[':
		s.depth++
		if s.depth > maxDepth {
			return buf, false
		}
		s.pos++
		buf = append(buf, '[')
		if s.consume(']') {
			s.depth--
			return append(buf, ']'), true
		}
		for {
			var ok bool
			if buf, ok = s.canonical(buf); !ok {
				return buf, false
			}
			if s.consume(']') {
				s.depth--
				return append(buf, ']'), true
			}
			if !s.consume(',') {
				return buf, false
			}
			buf = append(buf, ',')
		}
	case '{':
		return s.canonicalObject(buf)
	case '"':
		return s.canonicalString(buf)
	case 't', 'f', 'n':
		start := s.pos
		v, ok := s.value()
		if !ok {
			s.pos = start
			return buf, false
		}
		return append(buf, v...), true
	default:
		start := s.pos
		if !s.number() {
			return buf, false
		}
		return appendCanonicalNumber(buf, s.data[start:s.pos]), true
	}
}

// canonicalObject appends the object that is next with its members sorted
// by their canonical names; of repeated names the last one stays, as
// encoding/json keeps it.
func (s *scanner) canonicalObject(buf []byte) ([]byte, bool) {
	s.depth++
	if s.depth > maxDepth {
		return buf, false
	}
	s.pos++
	if s.consume('}') {
		s.depth--
		return append(buf, '{', '}'), true
	}
	// Members are written after buf's end first, then put in order.
	type span struct{ name, value []byte }
	scratch := make([]byte, 0, 64)
	var spans [][3]int // name start, value start, end within scratch
	for {
		var ok bool
		if s.peek() != '"' {
			return buf, false
		}
		start := len(scratch)
		if scratch, ok = s.canonicalString(scratch); !ok || !s.consume(':') {
			return buf, false
		}
		mid := len(scratch)
		if scratch, ok = s.canonical(scratch); !ok {
			return buf, false
		}
		spans = append(spans, [3]int{start, mid, len(scratch)})
		if s.consume('}') {
			break
		}
		if !s.consume(',') {
			return buf, false
		}
	}
	s.depth--
	members := make([]span, len(spans))
	for i, sp := range spans {
		members[i] = span{scratch[sp[0]:sp[1]], scratch[sp[1]:sp[2]]}
	}
	slices.SortStableFunc(members, func(a, b span) int { return bytes.Compare(a.name, b.name) })
	buf = append(buf, '{')
	first := true
	for i, m := range members {
		if i+1 < len(members) && bytes.Equal(m.name, members[i+1].name) {
			continue // a later member of the same name wins
		}
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = append(buf, m.name...)
		buf = append(buf, ':')
		buf = append(buf, m.value...)
	}
	return append(buf, '}'), true
}

// canonicalString appends the string token that is next in canonical form.
func (s *scanner) canonicalString(buf []byte) ([]byte, bool) {
	start := s.pos
	kind, ok := s.str()
	if !ok {
		return buf, false
	}
	if kind != strEscaped {
		// No escapes and valid UTF-8: the bytes are the canonical form.
		return append(buf, s.data[start:s.pos]...), true
	}
	s.pos = start
	v, ok := s.stringValue()
	if !ok {
		return buf, false
	}
	return appendMinimalString(buf, v), true
}

// appendMinimalString appends v (valid UTF-8) as a JSON string with only
// the escapes JSON requires.
func appendMinimalString(buf []byte, v string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '"' || c == '\\':
			buf = append(buf, '\\', c)
		case c >= 0x20:
			buf = append(buf, c)
		case c == '\n':
			buf = append(buf, '\\', 'n')
		case c == '\r':
			buf = append(buf, '\\', 'r')
		case c == '\t':
			buf = append(buf, '\\', 't')
		case c == '\b':
			buf = append(buf, '\\', 'b')
		case c == '\f':
			buf = append(buf, '\\', 'f')
		default:
			buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
	}
	return append(buf, '"')
}

// appendCanonicalNumber appends a valid JSON number literal in canonical
// form: integers as written, others as encoding/json formats the float64.
func appendCanonicalNumber(buf, lit []byte) []byte {
	integer := true
	for _, c := range lit {
		if c == '.' || c == 'e' || c == 'E' {
			integer = false
			break
		}
	}
	if integer {
		return append(buf, lit...)
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil || math.IsInf(f, 0) {
		return append(buf, lit...) // out of float64's range: keep what was sent
	}
	// encoding/json's floatEncoder (ES6 number formatting).
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	start := len(buf)
	buf = strconv.AppendFloat(buf, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		if n := len(buf) - start; n >= 4 && buf[len(buf)-4] == 'e' && buf[len(buf)-3] == '-' && buf[len(buf)-2] == '0' {
			buf[len(buf)-2] = buf[len(buf)-1]
			buf = buf[:len(buf)-1]
		}
	}
	return buf
}
