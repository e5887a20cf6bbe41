package warehouse

import "bytes"

// Tables of Segment's Identify calls.
const (
	// IdentifiesTable has a row per identify: the standard columns (event
	// and event_text NULL), context_* and a column per trait.
	IdentifiesTable = "identifies"
	// UsersTable has a row per user_id with the latest traits: id is the
	// user_id; a user known only by anonymousId has none.
	UsersTable = "users"
)

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
