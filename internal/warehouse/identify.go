package warehouse

import (
	"bytes"
	"slices"
)

// Tables of Segment's Identify calls.
const (
	// IdentifiesTable has a row per identify: the standard columns but
	// event and event_text, context_* and a column per trait.
	IdentifiesTable = "identifies"
	// UsersTable has a row per user_id with the latest traits: id is the
	// user_id, and it has no anonymous_id, user_id, event or event_text
	// column; a user known only by anonymousId has no row.
	UsersTable = "users"
)

// identifiesColumns and usersColumns are the standard columns of the two
// tables, in table order (Segment's warehouse schema).
var (
	identifiesColumns = without(StandardColumns, "event", "event_text")
	usersColumns      = without(StandardColumns, "anonymous_id", "user_id", "event", "event_text")
)

// StandardColumnsOf returns the standard columns of a table, in table
// order: those of identifies and users, or StandardColumns for tracks and
// every event table.
func StandardColumnsOf(table string) []Column {
	switch table {
	case IdentifiesTable:
		return identifiesColumns
	case UsersTable:
		return usersColumns
	}
	return StandardColumns
}

func without(cols []Column, names ...string) []Column {
	var out []Column
	for _, c := range cols {
		if !slices.Contains(names, c.Name) {
			out = append(out, c)
		}
	}
	return out
}

// IsIdentify reports whether a message is an identify, as the bridge's
// mapping writes them (type first).
func IsIdentify(msg []byte) bool {
	return bytes.HasPrefix(msg, []byte(`{"type":"identify"`))
}

// ParseIdentify reads an Identify message into a Row of IdentifiesTable:
// its traits flattened like a Track's properties (the same column rules:
// snake case, standard names and context_* refused), context like a
// Track's.
func ParseIdentify(data []byte) (Row, error) {
	r, err := ParseTrack(data)
	if err != nil {
		return Row{}, err
	}
	r.EventText, r.Table = "", IdentifiesTable
	return r, nil
}
