package backfill

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestProgressRedrawsInPlaceOnATerminal(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	var out bytes.Buffer
	p := &Progress{W: &out, Terminal: true, Now: c.now}
	p.start(1000)
	p.file(1000)
	p.at(250)
	c.t = c.t.Add(time.Second)
	p.add(500, 0, 0)
	p.note("the bridge answered 503; retrying in 1s")
	p.at(500)
	c.t = c.t.Add(time.Second)
	p.add(500, 0, 0)
	p.finish(nil)
	got := out.String()
	for _, want := range []string{
		"\r\x1b[K500 events sent, 500 events/s, 25.0% of input, ETA 3s",
		"\r\x1b[Kimport: the bridge answered 503; retrying in 1s\n",
		"\r\x1b[K1000 events sent, 500 events/s, 50.0% of input, ETA 2s",
		"\r\x1b[Kimport: done: 1000 events sent in 2s (500 events/s)\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%q", want, got)
		}
	}
}

func TestProgressWritesLinesEveryIntervalOtherwise(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	var out bytes.Buffer
	p := &Progress{W: &out, Interval: 10 * time.Second, Now: c.now}
	p.start(100)
	p.file(100)
	for i := 0; i < 30; i++ { // 30 requests, one a second
		c.t = c.t.Add(time.Second)
		p.at(int64(2 * (i + 1)))
		p.add(10, 0, 0)
	}
	p.finish(nil)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 || strings.Contains(out.String(), "\r") {
		t.Fatalf("want 3 progress lines (every 10 s of 30) and a summary, got:\n%s", out.String())
	}
	if lines[2] != "import: 300 events sent, 10 events/s, 60.0% of input, ETA 20s" {
		t.Errorf("third line %q", lines[2])
	}
	if lines[3] != "import: done: 300 events sent in 30s (10 events/s)" {
		t.Errorf("summary %q", lines[3])
	}
}
