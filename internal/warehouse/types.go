package warehouse

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Type is a column's type. Each database names it its own way.
type Type uint8

// Column types, as Segment infers them from the first non-null value.
const (
	Text      Type = iota // a string that is not a timestamp, an array (JSON text)
	Bool                  // true, false
	Int                   // a number written without fraction or exponent
	Float                 // any other number
	Timestamp             // an RFC 3339 string
)

func (t Type) String() string {
	switch t {
	case Bool:
		return "boolean"
	case Int:
		return "bigint"
	case Float:
		return "double precision"
	case Timestamp:
		return "timestamptz"
	}
	return "text"
}

// Column is a named, typed column.
type Column struct {
	Name string
	Type Type
}

// Kind is the JSON kind of a value.
type Kind uint8

// JSON kinds a leaf value may have (objects are flattened away).
const (
	Null Kind = iota
	Boolean
	Number
	String
	Array
)

// Value is a leaf of a message: a JSON scalar or an array (kept as its JSON
// text, as Segment stringifies arrays).
type Value struct {
	Kind Kind
	// S is the string, the number as written, or the array's JSON.
	S string
	B bool
}

// Infer is the type a column gets from its first non-null value: a bool is
// boolean, a number written as an integer (no '.', no exponent, fits 64
// bits) is bigint, any other number double precision, an RFC 3339 string
// timestamptz, any other string or an array text. Statsig's metadata values
// are strings, so "true" and "29.99" make text columns.
func Infer(v Value) Type {
	switch v.Kind {
	case Boolean:
		return Bool
	case Number:
		if !strings.ContainsAny(v.S, ".eE") {
			if _, err := strconv.ParseInt(v.S, 10, 64); err == nil {
				return Int
			}
		}
		return Float
	case String:
		if _, ok := parseTime(v.S); ok {
			return Timestamp
		}
	}
	return Text
}

// parseTime parses an RFC 3339 timestamp (with a 'T', a zone, optional
// fraction), the only strings that make timestamp columns.
func parseTime(s string) (time.Time, bool) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// Convert casts v to a column of type t, as Segment does when a later value
// does not match the column: the result is nil (NULL), bool, int64,
// float64, time.Time (UTC) or string. ok is false when v could not be cast
// and became NULL (the caller reports it). Casts: a string that parses as
// the type ("42" into bigint, "true" into boolean, "1.5" into double
// precision, an RFC 3339 string into timestamptz); a number into bigint
// rounded to the nearest integer; a bool into a number as 1 or 0; anything
// into text as its JSON text (strings as themselves).
func Convert(v Value, t Type) (out any, ok bool) {
	if v.Kind == Null {
		return nil, true
	}
	switch t {
	case Text:
		if v.Kind == Boolean {
			return strconv.FormatBool(v.B), true
		}
		return v.S, true
	case Bool:
		switch v.Kind {
		case Boolean:
			return v.B, true
		case String:
			if b, err := strconv.ParseBool(strings.TrimSpace(v.S)); err == nil {
				return b, true
			}
		case Number:
			switch v.S {
			case "0":
				return false, true
			case "1":
				return true, true
			}
		}
	case Int:
		switch v.Kind {
		case Boolean:
			if v.B {
				return int64(1), true
			}
			return int64(0), true
		case Number, String:
			s := strings.TrimSpace(v.S)
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				return n, true
			}
			if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) &&
				math.Abs(f) < 1<<63 {
				return int64(math.Round(f)), true
			}
		}
	case Float:
		switch v.Kind {
		case Boolean:
			if v.B {
				return 1.0, true
			}
			return 0.0, true
		case Number, String:
			if f, err := strconv.ParseFloat(strings.TrimSpace(v.S), 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
				return f, true
			}
		}
	case Timestamp:
		if v.Kind == String {
			if ts, ok := parseTime(v.S); ok {
				return ts, true
			}
		}
	}
	return nil, false
}

// Truncate returns s cut to its first n characters (runes, not bytes, so
// no character is split), and whether it was cut.
func Truncate(s string, n int) (string, bool) {
	if len(s) <= n {
		return s, false // n bytes hold at most n characters
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j], true
		}
		i++
	}
	return s, false
}
