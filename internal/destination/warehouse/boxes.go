package warehouse

import (
	"time"

	wh "github.com/statsig-bridge/statsig-bridge/internal/warehouse"
)

// boxes keeps, for each column of a batch, the value last put in a row and
// what it was made from. The rows of a batch mostly repeat a column's value
// (one SDK's context strings, one log message's received_at and sent_at,
// the user of a run of events), and a string, a time or a number put in an
// any is an allocation each: two in five of the warehouse's allocations
// were these (BENCHMARKS.md, issue 13).
type boxes []box

type box struct {
	from wh.Value
	t    time.Time
	v    any
}

func newBoxes(n int) boxes { return make(boxes, n) }

// str is s in an any, nil for "" (nullString).
func (b boxes) str(j int, s string) any {
	if s == "" {
		return nil
	}
	return b.text(j, s)
}

// text is s in an any, "" included.
func (b boxes) text(j int, s string) any {
	c := &b[j]
	if c.v == nil || c.from.S != s {
		c.from.S, c.v = s, s
	}
	return c.v
}

// time is t in an any, nil for the zero time (nullTime).
func (b boxes) time(j int, t time.Time) any {
	if t.IsZero() {
		return nil
	}
	c := &b[j]
	if c.v == nil || !c.t.Equal(t) {
		c.t, c.v = t, t
	}
	return c.v
}

// converted is wh.Convert(v, typ) for column j: a value like the column's
// last one (same kind and text; booleans are never allocated) is converted
// once. Only a conversion that succeeded is kept; keep says whether the
// caller's final value (after truncation) may be remembered.
func (b boxes) converted(j int, v wh.Value, typ wh.Type) (any, bool) {
	c := &b[j]
	if v.Kind != wh.Boolean && c.v != nil && c.from == v {
		return c.v, true
	}
	out, ok := wh.Convert(v, typ)
	return out, ok
}

// keep remembers out as column j's value of v.
func (b boxes) keep(j int, v wh.Value, out any) {
	if v.Kind == wh.Boolean || out == nil {
		return
	}
	b[j] = box{from: v, v: out}
}
