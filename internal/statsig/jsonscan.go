package statsig

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
	"unsafe"
)

// scanner reads JSON for the hot paths: SDK request bodies at intake and
// stored batches at delivery. encoding/json spends most of its time
// validating the input once and then walking it again with reflection; the
// scanner validates as it goes and hands out sub-slices of the input.
//
// It is strict and small on purpose. Whatever it is not sure to read exactly
// as encoding/json would (a syntax error, a duplicate or case-folded field
// name, a string with escapes in a name, nesting deeper than encoding/json
// allows) makes it fail, and the caller decodes the same bytes with
// encoding/json instead: errors, and every odd corner of the format, keep
// encoding/json's behaviour.
type scanner struct {
	data []byte
	// text is data as a string, when the caller made one: string values
	// are then substrings of it instead of an allocation each.
	text  string
	pos   int
	depth int
	// spaced records that whitespace was skipped between tokens.
	spaced bool
	// lastUser is the user sharedUser read last.
	lastUser sharedUser
}

// sharedUser is a decoded User and the bytes it was decoded from.
type sharedUser struct {
	raw  []byte
	user *User
}

// unsafeString returns b as a string without copying it. The decoders'
// results share memory with their input already (raw values are
// sub-slices of it) and their callers must not modify it afterwards
// (intake bodies and log messages are never written again); strings
// sharing it too save a copy of every request and stored batch.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

func (s *scanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
			s.spaced = true
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.skipSpace()
	if s.pos >= len(s.data) {
		return 0
	}
	return s.data[s.pos]
}

// consume skips spaces and then c, reporting whether c was there.
func (s *scanner) consume(c byte) bool {
	if s.peek() != c {
		return false
	}
	s.pos++
	return true
}

// atEnd reports whether only spaces are left.
func (s *scanner) atEnd() bool { return s.peek() == 0 && s.pos >= len(s.data) }

// value skips one JSON value, validating it, and returns its bytes without
// the surrounding spaces: exactly what encoding/json stores in a RawMessage.
func (s *scanner) value() ([]byte, bool) {
	c := s.peek()
	start := s.pos
	var ok bool
	switch c {
	case '{':
		ok = s.skipContainer('{', '}')
	case '[':
		ok = s.skipContainer('[', ']')
	case '"':
		_, ok = s.str()
	case 't':
		ok = s.literal("true")
	case 'f':
		ok = s.literal("false")
	case 'n':
		ok = s.literal("null")
	default:
		ok = s.number()
	}
	return s.data[start:s.pos], ok
}

// skipContainer skips an object or array whose opening byte is next.
func (s *scanner) skipContainer(open, close byte) bool {
	s.depth++
	if s.depth > maxDepth {
		return false
	}
	s.pos++
	if s.consume(close) {
		s.depth--
		return true
	}
	for {
		if open == '{' {
			if s.peek() != '"' {
				return false
			}
			if _, ok := s.str(); !ok || !s.consume(':') {
				return false
			}
		}
		if _, ok := s.value(); !ok {
			return false
		}
		if s.consume(close) {
			s.depth--
			return true
		}
		if !s.consume(',') {
			return false
		}
	}
}

func (s *scanner) literal(word string) bool {
	if !bytes.HasPrefix(s.data[s.pos:], []byte(word)) {
		return false
	}
	s.pos += len(word)
	return true
}

// number skips a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() bool {
	d, i := s.data, s.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			return false
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			return false
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	s.pos = i
	return true
}

// strKind says how a string's bytes relate to its value.
type strKind int

const (
	// strPlain: printable ASCII without escapes; the value is the bytes.
	strPlain strKind = iota
	// strUTF8: no escapes, valid UTF-8; the value is still the bytes.
	strUTF8
	// strEscaped: escapes or invalid UTF-8; encoding/json must unquote it.
	strEscaped
)

// str skips a string token (the next byte is '"') and says what it holds.
func (s *scanner) str() (strKind, bool) {
	d := s.data
	kind := strPlain
	i := s.pos + 1
	for i < len(d) {
		// Most bytes are plain: skip them in a tight loop.
		for i < len(d) && plainByte[d[i]] {
			i++
		}
		if i >= len(d) {
			break
		}
		c := d[i]
		switch {
		case c == '"':
			if kind == strUTF8 && !utf8.Valid(d[s.pos+1:i]) {
				kind = strEscaped
			}
			s.pos = i + 1
			return kind, true
		case c == '\\':
			kind = strEscaped
			if i+1 >= len(d) {
				return 0, false
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(d) || !isHex(d[i+2]) || !isHex(d[i+3]) || !isHex(d[i+4]) || !isHex(d[i+5]) {
					return 0, false
				}
				i += 6
			default:
				return 0, false
			}
		case c < 0x20:
			return 0, false
		case c >= utf8.RuneSelf:
			if kind == strPlain {
				kind = strUTF8
			}
			i++
		default:
			i++
		}
	}
	return 0, false
}

// plainByte marks the bytes that stand for themselves inside a string:
// printable ASCII except the quote and the backslash.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// stringValue reads a string token and returns its value as encoding/json
// would decode it.
func (s *scanner) stringValue() (string, bool) {
	start := s.pos
	kind, ok := s.str()
	if !ok {
		return "", false
	}
	tok := s.data[start:s.pos]
	if kind != strEscaped {
		if s.text != "" {
			return s.text[start+1 : s.pos-1], true
		}
		return string(tok[1 : len(tok)-1]), true
	}
	var v string
	if json.Unmarshal(tok, &v) != nil {
		return "", false
	}
	return v, true
}

// key reads an object member's name and the colon after it. Only plain
// names are accepted: they are the only ones whose match against a field
// name is a byte comparison.
func (s *scanner) key() ([]byte, bool) {
	if s.peek() != '"' {
		return nil, false
	}
	start := s.pos
	kind, ok := s.str()
	if !ok || kind != strPlain {
		return nil, false
	}
	name := s.data[start+1 : s.pos-1]
	return name, s.consume(':')
}

// members reads the object that is next, calling f with each member's name;
// f must read the member's value. f returns false, or the object is
// malformed, and members fails.
func (s *scanner) members(f func(name []byte) bool) bool {
	if !s.consume('{') {
		return false
	}
	s.depth++
	if s.depth > maxDepth {
		return false
	}
	if s.consume('}') {
		s.depth--
		return true
	}
	for {
		name, ok := s.key()
		if !ok || !f(name) {
			return false
		}
		if s.consume('}') {
			s.depth--
			return true
		}
		if !s.consume(',') {
			return false
		}
	}
}

// unknown skips the value of a member that is not one of fields, and fails
// if encoding/json would take the name for one of them (it matches names
// case-insensitively).
func (s *scanner) unknown(name []byte, fields []string) bool {
	for _, f := range fields {
		if bytes.EqualFold(name, []byte(f)) {
			return false
		}
	}
	_, ok := s.value()
	return ok
}

// once records that field bit was read and fails on a repeat: a repeated
// field merges in encoding/json, a corner not worth copying.
func once(seen *uint32, bit uint32) bool {
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}

// flexString reads a FlexString value: a string, number, boolean or null.
func (s *scanner) flexString() (FlexString, bool) {
	switch c := s.peek(); c {
	case '"':
		v, ok := s.stringValue()
		return FlexString(v), ok
	case '{', '[':
		return "", false
	case 'n':
		return "", s.literal("null")
	}
	raw, ok := s.value()
	return FlexString(raw), ok
}

// int64Value reads an integer the way encoding/json decodes into int64:
// null leaves it alone (0 here), anything but an integer fails.
func (s *scanner) int64Value() (int64, bool) {
	if s.peek() == 'n' {
		return 0, s.literal("null")
	}
	start := s.pos
	if !s.number() {
		return 0, false
	}
	return parseInt(s.data[start:s.pos])
}

// parseInt parses an optionally negative decimal integer of at most 18
// digits (no overflow possible); anything else fails.
func parseInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}
