// Package progress draws the progress of a long command (import, replay)
// on stderr: on a terminal one line redrawn in place, otherwise a line every
// Interval, and a summary at the end. What the line says belongs to the
// command; when and how it is drawn is written once, here.
package progress

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// DefaultInterval is the time between lines when not on a terminal.
const DefaultInterval = 10 * time.Second

// redrawEvery is how often a terminal line is redrawn at most.
const redrawEvery = 200 * time.Millisecond

// Display draws one command's progress. A nil *Display, or one without W,
// draws nothing. It is safe for concurrent use.
type Display struct {
	// W receives the display.
	W io.Writer
	// Prefix starts every line ("import", "replay").
	Prefix string
	// Terminal redraws one line in place (\r) instead of writing lines.
	Terminal bool
	// Interval between lines when not on a terminal (DefaultInterval).
	Interval time.Duration
	// Now is the clock (tests); default time.Now.
	Now func() time.Time

	mu          sync.Mutex
	begin, last time.Time
	drawn       bool
}

// Start marks the beginning of the work: rates and ETAs count from here,
// and the first periodic line comes an interval later.
func (d *Display) Start() {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.begin = d.now()
	d.last = d.begin
}

// Elapsed is the time since Start.
func (d *Display) Elapsed() time.Duration {
	if d == nil {
		return 0
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.now().Sub(d.begin)
}

// Update draws line (given the time since Start) if a redraw is due.
func (d *Display) Update(line func(elapsed time.Duration) string) {
	if d == nil || d.W == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	every := d.Interval
	if every <= 0 {
		every = DefaultInterval
	}
	switch {
	case d.Terminal && now.Sub(d.last) >= redrawEvery:
		fmt.Fprintf(d.W, "\r\x1b[K%s", line(now.Sub(d.begin)))
		d.drawn, d.last = true, now
	case !d.Terminal && now.Sub(d.last) >= every:
		fmt.Fprintf(d.W, "%s: %s\n", d.Prefix, line(now.Sub(d.begin)))
		d.last = now
	}
}

// Note writes msg on a line of its own, clearing a redrawn line first.
func (d *Display) Note(msg string) {
	if d == nil || d.W == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.clear()
	fmt.Fprintf(d.W, "%s: %s\n", d.Prefix, msg)
}

// Finish writes the summary line, given the time since Start.
func (d *Display) Finish(summary func(elapsed time.Duration) string) {
	if d == nil || d.W == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.clear()
	fmt.Fprintf(d.W, "%s: %s\n", d.Prefix, summary(d.now().Sub(d.begin)))
}

func (d *Display) clear() {
	if d.drawn {
		fmt.Fprint(d.W, "\r\x1b[K")
		d.drawn = false
	}
}

func (d *Display) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// Rate is n per second over elapsed, as text ("-" before any time passed).
func Rate(n int64, elapsed time.Duration) string {
	if elapsed <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", float64(n)/elapsed.Seconds())
}

// ETA is the time left when share (0..1) of the work took elapsed, as
// text, or "" when it cannot be told.
func ETA(share float64, elapsed time.Duration) string {
	if share <= 0 || share >= 1 {
		return ""
	}
	return time.Duration(float64(elapsed) * (1 - share) / share).Round(time.Second).String()
}
