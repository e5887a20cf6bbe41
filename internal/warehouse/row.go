package warehouse

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Row is one Track message as warehouse rows: the standard columns, the
// flattened context (columns of both tables) and the flattened properties
// (columns of the event's table only).
type Row struct {
	ID          string
	AnonymousID string
	UserID      string
	// EventText is the event's name as sent; Table its table (the `event`
	// column).
	EventText string
	Table     string

	ReceivedAt, SentAt, Timestamp, OriginalTimestamp time.Time

	Context    []Field
	Properties []Field
	// Dropped are property columns refused: a standard column's name, the
	// context_* space, or a name with nothing left after snake-casing.
	Dropped []string
}

// Field is one flattened value and its column.
type Field struct {
	Column string
	Value  Value
}

// ParseTrack reads a Track message (the Segment JSON the bridge makes, plus
// receivedAt and sentAt) into a Row. Nested objects in properties and
// context are flattened with "_" and the joined path snake-cased
// (properties.metadata.gateValue → metadata_gate_value,
// context.library.name → context_library_name); arrays are kept as JSON
// text; nulls make no field. A column met twice in one message (gateValue
// and gate_value) keeps its first non-null value.
func ParseTrack(data []byte) (Row, error) {
	p := parser{data: data}
	var r Row
	var ctxRaw, propsRaw []byte
	err := p.object(func(k []byte) error {
		switch key := string(k); key {
		case "properties", "context", "traits": // traits: an identify's (ParseIdentify)
			start := p.i
			if err := p.skip(); err != nil {
				return err
			}
			if key != "context" {
				propsRaw = data[start:p.i]
			} else {
				ctxRaw = data[start:p.i]
			}
			return nil
		case "messageId", "event", "userId", "anonymousId", "timestamp", "originalTimestamp", "receivedAt", "sentAt":
			v, err := p.scalar()
			if err != nil {
				return err
			}
			if v.Kind != String {
				if v.Kind == Null {
					return nil
				}
				return fmt.Errorf("%s is not a string", key)
			}
			switch key {
			case "messageId":
				r.ID = v.S
			case "event":
				r.EventText = v.S
			case "userId":
				r.UserID = v.S
			case "anonymousId":
				r.AnonymousID = v.S
			default:
				ts, ok := parseTime(v.S)
				if !ok {
					return fmt.Errorf("%s: %q is not an RFC 3339 time", key, v.S)
				}
				switch key {
				case "timestamp":
					r.Timestamp = ts
				case "originalTimestamp":
					r.OriginalTimestamp = ts
				case "receivedAt":
					r.ReceivedAt = ts
				case "sentAt":
					r.SentAt = ts
				}
			}
			return nil
		}
		return p.skip()
	})
	if err == nil {
		p.ws()
		if p.i != len(data) {
			err = errors.New("data after the message")
		}
	}
	if err != nil {
		return Row{}, fmt.Errorf("reading the track message: %w", err)
	}
	if err := r.fill(ctxRaw, propsRaw); err != nil {
		return Row{}, err
	}
	return r, nil
}

// NewRow is ParseTrack for a message the caller holds as its parts rather
// than its JSON: r's standard fields (ID, EventText, UserID, AnonymousID and
// the times, as ParseTrack would read them from the JSON) and the raw
// context and properties objects. It returns the Row ParseTrack returns
// for that message (a differential test and a fuzz target hold the two
// equal): the warehouse builds rows from the mapped event this way instead
// of writing the message and reading it back.
func NewRow(r Row, context, properties []byte) (Row, error) {
	r.Context, r.Properties, r.Dropped = nil, nil, nil
	if err := r.fill(context, properties); err != nil {
		return Row{}, err
	}
	return r, nil
}

// fill sets Table and flattens the context and properties into r: one
// implementation for ParseTrack and NewRow.
func (r *Row) fill(ctxRaw, propsRaw []byte) error {
	if r.ID == "" {
		return errors.New("reading the track message: no messageId")
	}
	r.Table = TableName(r.EventText)
	seen := func(col string) bool {
		return slices.ContainsFunc(r.Context, func(f Field) bool { return f.Column == col }) ||
			slices.ContainsFunc(r.Properties, func(f Field) bool { return f.Column == col }) ||
			slices.Contains(r.Dropped, col)
	}
	// Context and properties share one array when they fit (one
	// allocation per message, not two).
	var fields []Field
	if len(ctxRaw) > 0 || len(propsRaw) > 0 {
		fields = make([]Field, 0, 32)
	}
	if len(ctxRaw) > 0 {
		r.Context = fields
		if err := flatten(ctxRaw, "context", func(col string, v Value) {
			if col == "" || seen(col) {
				return
			}
			r.Context = append(r.Context, Field{Column: col, Value: v})
		}); err != nil {
			return fmt.Errorf("reading the track message's context: %w", err)
		}
		n := len(r.Context)
		// Capped, so that the properties appended after it cannot change it.
		r.Context = r.Context[:n:n]
		if n <= cap(fields) {
			fields = fields[n:n]
		} // else the context outgrew the array: the properties have it all
	}
	if len(propsRaw) > 0 {
		r.Properties = fields
		if err := flatten(propsRaw, "", func(col string, v Value) {
			if seen(col) {
				return
			}
			if col == "" || Reserved(col) {
				r.Dropped = append(r.Dropped, col)
				return
			}
			r.Properties = append(r.Properties, Field{Column: col, Value: v})
		}); err != nil {
			return fmt.Errorf("reading the track message's properties: %w", err)
		}
	}
	return nil
}

// flatten walks a JSON object and calls emit with each non-null leaf's
// column name (Ident(Snake(path joined by "_")) and value.
func flatten(raw []byte, prefix string, emit func(col string, v Value)) error {
	p := parser{data: raw}
	p.ws()
	if p.i < len(raw) && raw[p.i] == 'n' {
		return nil // "properties": null
	}
	if err := p.flatten(append(make([]byte, 0, 64), prefix...), emit); err != nil {
		return err
	}
	p.ws()
	if p.i != len(raw) {
		return errors.New("data after the object")
	}
	return nil
}

func (p *parser) flatten(path []byte, emit func(col string, v Value)) error {
	n := len(path)
	return p.object(func(key []byte) error {
		path = path[:n]
		if n > 0 {
			path = append(path, '_')
		}
		path = append(path, key...)
		p.ws()
		if p.i < len(p.data) && p.data[p.i] == '{' {
			return p.flatten(path, emit)
		}
		v, err := p.scalar()
		if err != nil {
			return err
		}
		if v.Kind != Null {
			emit(columns.get(path), v)
		}
		return nil
	})
}

// columns caches the column of each flattened path seen: the same few
// names recur in every message.
var columns nameCache

// nameCache maps paths to columns; it stops growing at maxCachedNames (a
// sender inventing names would otherwise fill memory). Hits read an
// immutable map without a lock: every event looks up each of its 20–35
// paths, and a read lock's shared counter, written from every core, cost
// more than the lookups (BENCHMARKS.md, "Postgres warehouse: rows built
// directly"). Misses go into added under mu, which is merged into a new
// map once it holds an eighth of the published one (or while the map is
// small), so the copying stays proportional to the names cached.
type nameCache struct {
	published atomic.Pointer[map[string]string]
	mu        sync.Mutex
	added     map[string]string
}

const maxCachedNames = 50_000

func (c *nameCache) get(path []byte) string {
	if m := c.published.Load(); m != nil {
		if col, ok := (*m)[string(path)]; ok {
			return col
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if col, ok := c.added[string(path)]; ok {
		return col
	}
	col := column(string(path))
	var pub map[string]string
	if m := c.published.Load(); m != nil {
		pub = *m
	}
	if len(pub)+len(c.added) >= maxCachedNames {
		return col
	}
	if c.added == nil {
		c.added = map[string]string{}
	}
	c.added[string(path)] = col
	if len(pub) < 1024 || len(c.added) >= len(pub)/8 {
		next := make(map[string]string, len(pub)+len(c.added))
		maps.Copy(next, pub)
		maps.Copy(next, c.added)
		c.published.Store(&next)
		c.added = nil
	}
	return col
}

// column is the column of a flattened path; empty when nothing is left.
func column(path string) string {
	s := Snake(path)
	if s == "" {
		return ""
	}
	return Ident(s)
}

// parser is a small JSON reader for one message: objects are walked, leaf
// values read, arrays kept as their bytes.
type parser struct {
	data []byte
	i    int
}

var errSyntax = errors.New("invalid JSON")

func (p *parser) ws() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// object reads an object, calling field with each key with the position at
// its value; field must consume the value.
func (p *parser) object(field func(key []byte) error) error {
	p.ws()
	if p.i >= len(p.data) || p.data[p.i] != '{' {
		return fmt.Errorf("%w: want an object at byte %d", errSyntax, p.i)
	}
	p.i++
	p.ws()
	if p.i < len(p.data) && p.data[p.i] == '}' {
		p.i++
		return nil
	}
	for {
		p.ws()
		key, err := p.key()
		if err != nil {
			return err
		}
		p.ws()
		if p.i >= len(p.data) || p.data[p.i] != ':' {
			return fmt.Errorf("%w: want ':' at byte %d", errSyntax, p.i)
		}
		p.i++
		if err := field(key); err != nil {
			return err
		}
		p.ws()
		if p.i >= len(p.data) {
			return fmt.Errorf("%w: unexpected end", errSyntax)
		}
		switch p.data[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return nil
		default:
			return fmt.Errorf("%w: want ',' or '}' at byte %d", errSyntax, p.i)
		}
	}
}

// key reads an object key: the input's bytes when it has no escapes
// (valid until the next call otherwise).
func (p *parser) key() ([]byte, error) {
	if p.i >= len(p.data) || p.data[p.i] != '"' {
		return nil, fmt.Errorf("%w: want a string at byte %d", errSyntax, p.i)
	}
	for j := p.i + 1; j < len(p.data); j++ {
		switch c := p.data[j]; {
		case c == '\\' || c >= utf8.RuneSelf:
			s, err := p.str()
			return []byte(s), err
		case c == '"':
			k := p.data[p.i+1 : j]
			p.i = j + 1
			return k, nil
		case c < ' ':
			return nil, fmt.Errorf("%w: control character in a string at byte %d", errSyntax, j)
		}
	}
	return nil, fmt.Errorf("%w: unterminated string", errSyntax)
}

// str reads a string.
func (p *parser) str() (string, error) {
	if p.i >= len(p.data) || p.data[p.i] != '"' {
		return "", fmt.Errorf("%w: want a string at byte %d", errSyntax, p.i)
	}
	start := p.i
	// Escapes, and invalid UTF-8, are left to encoding/json: it turns an
	// invalid byte into U+FFFD (PostgreSQL refuses invalid text).
	escaped, nonASCII := false, false
	for j := p.i + 1; j < len(p.data); j++ {
		switch c := p.data[j]; {
		case c == '\\':
			escaped = true
			j++
		case c >= utf8.RuneSelf:
			nonASCII = true
		case c == '"':
			p.i = j + 1
			if raw := p.data[start+1 : j]; !escaped && (!nonASCII || utf8.Valid(raw)) {
				return string(raw), nil
			}
			var s string
			if err := json.Unmarshal(p.data[start:p.i], &s); err != nil {
				return "", fmt.Errorf("%w: %v", errSyntax, err)
			}
			return s, nil
		case c < ' ':
			return "", fmt.Errorf("%w: control character in a string at byte %d", errSyntax, j)
		}
	}
	return "", fmt.Errorf("%w: unterminated string", errSyntax)
}

// scalar reads a leaf value; an array is returned as its compact JSON; an
// object here is an error (callers flatten objects).
func (p *parser) scalar() (Value, error) {
	p.ws()
	if p.i >= len(p.data) {
		return Value{}, fmt.Errorf("%w: unexpected end", errSyntax)
	}
	switch c := p.data[p.i]; {
	case c == '"':
		s, err := p.str()
		return Value{Kind: String, S: s}, err
	case c == '[':
		start := p.i
		if err := p.skip(); err != nil {
			return Value{}, err
		}
		raw := p.data[start:p.i]
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return Value{}, fmt.Errorf("%w: %v", errSyntax, err)
		}
		return Value{Kind: Array, S: buf.String()}, nil
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range [...]string{"true", "false", "null"} {
			if bytes.HasPrefix(p.data[p.i:], []byte(lit)) {
				p.i += len(lit)
				switch lit {
				case "true":
					return Value{Kind: Boolean, B: true}, nil
				case "false":
					return Value{Kind: Boolean}, nil
				}
				return Value{}, nil
			}
		}
	case c == '-' || isDigit(c):
		start := p.i
		if !p.number() {
			return Value{}, fmt.Errorf("%w: invalid number at byte %d", errSyntax, start)
		}
		return Value{Kind: Number, S: string(p.data[start:p.i])}, nil
	case c == '{':
		return Value{}, fmt.Errorf("%w: unexpected object at byte %d", errSyntax, p.i)
	}
	return Value{}, fmt.Errorf("%w: unexpected %q at byte %d", errSyntax, p.data[p.i], p.i)
}

// number reads a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
// (a column's type is inferred from its text: "1-2" must not pass).
func (p *parser) number() bool {
	d := p.data
	digits := func() bool {
		start := p.i
		for p.i < len(d) && isDigit(d[p.i]) {
			p.i++
		}
		return p.i > start
	}
	if p.i < len(d) && d[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(d) && d[p.i] == '0':
		p.i++
	case !digits():
		return false
	}
	if p.i < len(d) && d[p.i] == '.' {
		p.i++
		if !digits() {
			return false
		}
	}
	if p.i < len(d) && (d[p.i] == 'e' || d[p.i] == 'E') {
		p.i++
		if p.i < len(d) && (d[p.i] == '+' || d[p.i] == '-') {
			p.i++
		}
		if !digits() {
			return false
		}
	}
	return true
}

// skip passes over any value.
func (p *parser) skip() error {
	p.ws()
	if p.i >= len(p.data) {
		return fmt.Errorf("%w: unexpected end", errSyntax)
	}
	switch p.data[p.i] {
	case '{':
		return p.object(func([]byte) error { return p.skip() })
	case '[':
		p.i++
		p.ws()
		if p.i < len(p.data) && p.data[p.i] == ']' {
			p.i++
			return nil
		}
		for {
			if err := p.skip(); err != nil {
				return err
			}
			p.ws()
			if p.i >= len(p.data) {
				return fmt.Errorf("%w: unexpected end", errSyntax)
			}
			switch p.data[p.i] {
			case ',':
				p.i++
			case ']':
				p.i++
				return nil
			default:
				return fmt.Errorf("%w: want ',' or ']' at byte %d", errSyntax, p.i)
			}
		}
	}
	_, err := p.scalar()
	return err
}
