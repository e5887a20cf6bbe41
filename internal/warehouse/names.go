package warehouse

import (
	"encoding/hex"
	"hash/fnv"
	"strings"
)

// Snake converts a name as Segment's go-snakecase does (measured
// byte-for-byte): ASCII letters and digits form words, a word being a run of
// upper-case letters and digits followed by a run of lower-case letters and
// digits; every other byte (punctuation, spaces, underscores and all
// non-ASCII bytes) separates words and is dropped; words are lower-cased and
// joined by one underscore. A name made only of [a-z0-9] with inner single
// underscores is already its own snake case. The result may be empty.
func Snake(s string) string {
	if isSnake(s) {
		return s
	}
	b := make([]byte, 0, len(s)+4)
	for i := 0; i < len(s); {
		if !isAlnum(s[i]) {
			i++
			continue
		}
		if len(b) > 0 {
			b = append(b, '_')
		}
		for i < len(s) && (isUpper(s[i]) || isDigit(s[i])) {
			b = append(b, s[i]+('a'-'A')*boolByte(isUpper(s[i])))
			i++
		}
		for i < len(s) && (isLower(s[i]) || isDigit(s[i])) {
			b = append(b, s[i])
			i++
		}
	}
	return string(b)
}

// isSnake reports a name Snake returns unchanged: [a-z0-9] words joined by
// single underscores, none leading or trailing.
func isSnake(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isLower(c) || isDigit(c) {
			continue
		}
		if c == '_' && i > 0 && i < len(s)-1 && (isLower(s[i+1]) || isDigit(s[i+1])) {
			continue
		}
		return false
	}
	return true
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

func isAlnum(c byte) bool { return isLower(c) || isUpper(c) || isDigit(c) }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// MaxIdentBytes is the longest identifier the loader makes: Postgres keeps
// 63 bytes (NAMEDATALEN − 1) and silently cuts longer ones, so two long
// names could become one. SQLite has no limit; the same names are used
// there so that SQL works on both.
const MaxIdentBytes = 63

// hashLen is the hex digits of the hash that ends a shortened identifier.
const hashLen = 8

// Ident fits a snake-case name to MaxIdentBytes: a longer name keeps its
// first bytes and ends with "_" and 8 hex digits of a hash of the whole
// name, so it is stable and two long names that share a prefix stay
// distinct. A name starting with a digit gets a "_" prefix (as Segment does
// on Redshift) so it can be written unquoted.
func Ident(name string) string {
	if name != "" && isDigit(name[0]) {
		name = "_" + name
	}
	if len(name) <= MaxIdentBytes {
		return name
	}
	prefix := strings.TrimRight(name[:MaxIdentBytes-hashLen-1], "_")
	return prefix + "_" + shortHash(name)
}

func shortHash(s string) string {
	h := fnv.New32a()
	h.Write([]byte(s))
	return hex.EncodeToString(h.Sum(nil))
}

// TracksTable is the table of every Track call.
const TracksTable = "tracks"

// builtinTables are Segment's tables for other calls (and tracks): an event
// whose name snake-cases to one of them gets the "event_" prefix instead.
var builtinTables = map[string]bool{
	"tracks": true, "identifies": true, "users": true, "pages": true, "screens": true,
	"groups": true, "aliases": true, "accounts": true,
}

// IsBuiltinTable reports whether table is one of Segment's tables for
// calls (tracks, identifies, users, pages, …), which no event's table is.
func IsBuiltinTable(table string) bool { return builtinTables[table] }

// TableName is the table of an event, by Segment's rule (the snake case of
// its name) plus the bridge's for names Segment leaves undefined: a name
// with nothing left after snake-casing ("日本語", "::") becomes
// "event_<hash of the name>"; one that is a built-in table name ("Tracks",
// "users") becomes "event_<name>"; then Ident.
func TableName(event string) string {
	t := Snake(event)
	switch {
	case t == "":
		t = "event_" + shortHash(event)
	case builtinTables[t]:
		t = "event_" + t
	}
	return Ident(t)
}

// Standard columns, in table order. tracks has exactly these plus context_*.
var StandardColumns = []Column{
	{Name: "id", Type: Text},
	{Name: "anonymous_id", Type: Text},
	{Name: "user_id", Type: Text},
	{Name: "event", Type: Text},
	{Name: "event_text", Type: Text},
	{Name: "received_at", Type: Timestamp},
	{Name: "sent_at", Type: Timestamp},
	{Name: "timestamp", Type: Timestamp},
	{Name: "original_timestamp", Type: Timestamp},
	{Name: "uuid_ts", Type: Timestamp},
}

// reservedColumns are names a property may not take (Segment discards such
// properties): the standard columns and those other warehouses add.
var reservedColumns = map[string]bool{
	"id": true, "anonymous_id": true, "user_id": true, "event": true, "event_text": true,
	"received_at": true, "sent_at": true, "timestamp": true, "original_timestamp": true,
	"uuid": true, "uuid_ts": true, "loaded_at": true, "context": true,
}

// Reserved reports whether a property's column name belongs to the
// standard columns or the context_* space, so the property is dropped.
func Reserved(column string) bool {
	return reservedColumns[column] || strings.HasPrefix(column, "context_")
}
