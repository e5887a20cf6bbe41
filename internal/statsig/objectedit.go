package statsig

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
)

// MemberEdit is one assignment of AppendObjectEdited: member Name set to
// Value, or, when From is set, to the value obj's member From had before
// any edit (null when obj has none).
type MemberEdit struct {
	Name  string
	Value json.RawMessage
	From  string
}

// AppendObjectEdited appends the JSON object obj with edits (sorted by
// Name, no name twice) assigned, exactly as json.Marshal writes the
// map[string]json.RawMessage obj decodes to after the assignments: what
// AppendObject writes for ObjectMembers(obj) with the edits set.
//
// It exists because exposure metadata is rewritten on the delivery path of
// every layer exposure: for the objects the intake stores (plain names,
// compact, nothing json.Marshal escapes) it reads obj once and copies its
// members through in order, with no member list to insert into and no
// value scanned again (flat objects, see flatMembers, are not even
// scanned); anything else takes ObjectMembers and AppendObject.
func AppendObjectEdited(dst []byte, obj json.RawMessage, edits []MemberEdit) ([]byte, error) {
	var room [32]member
	// Names are plain; with no space between tokens and nothing to escape
	// in the whole object, json.Marshal writes every name and value as sent.
	members, flat := flatMembers(room[:0], obj)
	asSent := flat && !needsHTMLEscape(obj)
	if !flat {
		s := scanner{data: obj}
		var ok bool
		if members, ok = s.objectMembers(room[:0]); !ok {
			return appendObjectEditedSlow(dst, obj, edits)
		}
		asSent = !s.spaced && !needsHTMLEscape(obj)
	}
	// Stable, so that of repeated names the last, which a map keeps, ends
	// each run.
	slices.SortStableFunc(members, func(a, b member) int { return bytes.Compare(a.name, b.name) })
	start := len(dst)
	dst = append(dst, '{')
	var err error
	i, j := 0, 0
	for i < len(members) || j < len(edits) {
		if i+1 < len(members) && bytes.Equal(members[i].name, members[i+1].name) {
			i++
			continue
		}
		c := 1 // the edit is next
		switch {
		case i < len(members) && j < len(edits):
			c = strings.Compare(unsafeString(members[i].name), edits[j].Name)
		case i < len(members):
			c = -1
		}
		if len(dst) > start+1 {
			dst = append(dst, ',')
		}
		if c < 0 {
			m := members[i]
			i++
			if asSent {
				dst = append(dst, '"')
				dst = append(dst, m.name...)
				dst = append(dst, '"', ':')
				dst = append(dst, m.value...)
				continue
			}
			dst = appendJSONString(dst, unsafeString(m.name))
			dst = append(dst, ':')
			if dst, err = appendRaw(dst, m.value); err != nil {
				return dst[:start], err
			}
			continue
		}
		if c == 0 {
			i++
		}
		e := edits[j]
		j++
		value := e.Value
		if e.From != "" {
			value = lastMember(members, e.From)
		}
		dst = appendJSONString(dst, e.Name)
		dst = append(dst, ':')
		if value == nil {
			dst = append(dst, "null"...)
			continue
		}
		if dst, err = appendRaw(dst, value); err != nil {
			return dst[:start], err
		}
	}
	return append(dst, '}'), nil
}

// lastMember returns the value of the last member named name in members
// (sorted stably by name), nil if there is none.
func lastMember(members []member, name string) json.RawMessage {
	i, found := slices.BinarySearchFunc(members, name, func(m member, name string) int {
		return strings.Compare(unsafeString(m.name), name)
	})
	if !found {
		return nil
	}
	for i+1 < len(members) && string(members[i+1].name) == name {
		i++
	}
	return members[i].value
}

// appendObjectEditedSlow is AppendObjectEdited through ObjectMembers and
// AppendObject, for objects with escaped names.
func appendObjectEditedSlow(dst []byte, obj json.RawMessage, edits []MemberEdit) ([]byte, error) {
	all, err := ObjectMembers(obj)
	if err != nil {
		return dst, err
	}
	values := make([]json.RawMessage, len(edits))
	for k, e := range edits {
		values[k] = e.Value
		if e.From != "" {
			values[k] = nil
			if i, found := slices.BinarySearchFunc(all, e.From, compareMember); found {
				values[k] = all[i].Value
			}
		}
	}
	for k, e := range edits {
		i, found := slices.BinarySearchFunc(all, e.Name, compareMember)
		if found {
			all[i].Value = values[k]
			continue
		}
		all = slices.Insert(all, i, Member{Name: e.Name, Value: values[k]})
	}
	return AppendObject(dst, all)
}

func compareMember(m Member, name string) int { return strings.Compare(m.Name, name) }
