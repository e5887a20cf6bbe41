package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestDisplayRedrawsOnATerminalAndWritesLinesOtherwise: on a terminal one
// line is redrawn in place (at most every 200 ms) and cleared before a note
// or the summary; elsewhere a line is written every Interval.
func TestDisplayRedrawsOnATerminalAndWritesLinesOtherwise(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	var term bytes.Buffer
	d := &Display{W: &term, Prefix: "job", Terminal: true, Now: clock}
	d.Start()
	line := func(e time.Duration) string { return "at " + e.String() }
	now = now.Add(100 * time.Millisecond)
	d.Update(line) // too soon: not drawn
	now = now.Add(200 * time.Millisecond)
	d.Update(line)
	d.Note("a note")
	d.Finish(func(e time.Duration) string { return "done in " + e.String() })
	if got, want := term.String(), "\r\x1b[Kat 300ms\r\x1b[Kjob: a note\njob: done in 300ms\n"; got != want {
		t.Errorf("terminal output %q, want %q", got, want)
	}

	var lines bytes.Buffer
	d = &Display{W: &lines, Prefix: "job", Interval: 10 * time.Second, Now: clock}
	d.Start()
	for range 25 {
		now = now.Add(time.Second)
		d.Update(line)
	}
	if got := strings.Count(lines.String(), "\n"); got != 2 || strings.Contains(lines.String(), "\r") {
		t.Errorf("%d lines in 25 s at a 10 s interval, want 2 and no redraws:\n%s", got, lines.String())
	}
	var nothing *Display
	nothing.Update(line) // a nil display draws nothing
	nothing.Finish(line)
}

func TestRateAndETA(t *testing.T) {
	if got := Rate(500, 2*time.Second); got != "250" {
		t.Errorf("Rate = %s, want 250", got)
	}
	if got := Rate(5, 0); got != "-" {
		t.Errorf("Rate with no time = %s, want -", got)
	}
	if got := ETA(0.25, 10*time.Second); got != "30s" {
		t.Errorf("ETA a quarter done after 10s = %s, want 30s", got)
	}
	if ETA(0, time.Second) != "" || ETA(1, time.Second) != "" {
		t.Error("ETA of nothing or everything done should be empty")
	}
}
