package statsig

import "bytes"

// flatMembers lists the members of raw, in the order sent, when raw is a
// flat object, the shape nearly all metadata has (the SDKs write a map of
// strings): every value a string, and nothing anywhere but printable ASCII
// without a backslash, so there is no escape, no space and no UTF-8 to
// check, and each string ends at the next quote. Values keep their quotes.
// It fails for anything else (dst then holds a part of the list), and the
// caller takes the scanner's way, which reads any JSON.
//
// It is the scanner's result for these objects at a fraction of the cost:
// a word-at-a-time check of the whole object, then IndexByte from quote to
// quote instead of a byte-by-byte state machine.
func flatMembers(dst []member, raw []byte) ([]member, bool) {
	n := len(raw)
	if n < 3 || raw[0] != '{' || raw[n-1] != '}' || !flatBytes(raw) {
		return dst, false
	}
	for i := 1; ; {
		if raw[i] != '"' {
			return dst, false
		}
		j := bytes.IndexByte(raw[i+1:], '"')
		if j < 0 {
			return dst, false
		}
		name := raw[i+1 : i+1+j]
		i += j + 2
		if i+1 >= n || raw[i] != ':' || raw[i+1] != '"' {
			return dst, false
		}
		j = bytes.IndexByte(raw[i+2:], '"')
		if j < 0 {
			return dst, false
		}
		dst = append(dst, member{name, raw[i+1 : i+3+j]})
		i += j + 3
		switch {
		case i == n-1: // the closing brace
			return dst, true
		case raw[i] == ',':
			i++
		default:
			return dst, false
		}
	}
}

// flatBytes reports whether every byte of b is printable ASCII (DEL
// included, as JSON allows it raw) other than the backslash, eight bytes
// at a time. The tests are the word-at-a-time "some byte is below n" of
// Bit Twiddling Hacks, exact as a yes or no: a subtraction borrows only out
// of a byte that is below n, so a byte is flagged wrongly only above one
// flagged rightly (and bytes from 0x80 up are refused before that matters).
func flatBytes(b []byte) bool {
	const (
		ones = 0x0101010101010101
		tops = 0x8080808080808080
	)
	i := 0
	for ; i+8 <= len(b); i += 8 {
		w := b[i : i+8]
		x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		bs := x ^ ('\\' * ones)
		if (x&tops)|((x-0x20*ones)&^x&tops)|((bs-ones)&^bs&tops) != 0 {
			return false
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c < 0x20 || c >= 0x80 || c == '\\' {
			return false
		}
	}
	return true
}

// decodeFlatExposure is DecodeExposureMetadata for flat metadata (see
// flatMembers), the exposures of every SDK: each value is a string without
// escapes, so the field is its bytes. Whatever the scanner's way would
// leave to encoding/json (a name that matches a field only ignoring case, a
// field twice) fails here too.
func decodeFlatExposure(raw []byte) (ExposureMetadata, bool) {
	var room [32]member
	members, ok := flatMembers(room[:0], raw)
	if !ok {
		return ExposureMetadata{}, false
	}
	var md ExposureMetadata
	var seen uint32
	for _, m := range members {
		dst, bit := md.field(m.name)
		if dst == nil {
			// Names are ASCII here, so a match ignoring case has the
			// field's length.
			for _, f := range exposureFields {
				if len(m.name) == len(f) && bytes.EqualFold(m.name, []byte(f)) {
					return ExposureMetadata{}, false
				}
			}
			continue
		}
		if !once(&seen, bit) {
			return ExposureMetadata{}, false
		}
		*dst = FlexString(unsafeString(m.value[1 : len(m.value)-1]))
	}
	return md, true
}

// field returns the field a metadata member name decodes into and its bit
// for once, or nil for a name that is none of them.
func (md *ExposureMetadata) field(name []byte) (*FlexString, uint32) {
	switch string(name) {
	case "config":
		return &md.Config, 1 << 0
	case "ruleID":
		return &md.RuleID, 1 << 1
	case "allocatedExperiment":
		return &md.AllocatedExperiment, 1 << 2
	case "isExplicitParameter":
		return &md.IsExplicitParameter, 1 << 3
	case "experimentGroupName":
		return &md.ExperimentGroupName, 1 << 4
	case "gate":
		return &md.Gate, 1 << 5
	case "gateValue":
		return &md.GateValue, 1 << 6
	case "parameterName":
		return &md.ParameterName, 1 << 7
	}
	return nil, 0
}
