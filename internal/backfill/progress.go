package backfill

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Progress is the import's display on stderr: events sent, rate, and an
// ETA from the share of input bytes read. On a terminal one line is
// redrawn in place; otherwise a line is written every Interval. A nil
// *Progress shows nothing.
type Progress struct {
	W io.Writer
	// Terminal redraws one line in place (\r) instead of writing lines.
	Terminal bool
	// Interval between lines when not on a terminal (default 10 s).
	Interval time.Duration
	// Now is the clock (tests); default time.Now.
	Now func() time.Time

	mu                sync.Mutex
	begin, last       time.Time
	total, read, skip int64
	events, rejected  int64
	drawn             bool
}

func (p *Progress) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Progress) start(totalBytes int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.Interval <= 0 {
		p.Interval = 10 * time.Second
	}
	p.begin, p.last, p.total = p.now(), p.now(), totalBytes
}

func (p *Progress) readBytes(n int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.read += n
	p.mu.Unlock()
}

// skipBytes counts a file that needs no work as done.
func (p *Progress) skipBytes(n int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.skip += n
	p.mu.Unlock()
}

// add counts a stored request and updates the display when due.
func (p *Progress) add(events, rejected int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events += events
	p.rejected += rejected
	now := p.now()
	switch {
	case p.Terminal && now.Sub(p.last) >= 200*time.Millisecond:
		fmt.Fprintf(p.W, "\r\x1b[K%s", p.line(now))
		p.drawn, p.last = true, now
	case !p.Terminal && now.Sub(p.last) >= p.Interval:
		fmt.Fprintf(p.W, "import: %s\n", p.line(now))
		p.last = now
	}
}

// note writes a message on its own line.
func (p *Progress) note(msg string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.W, "\r\x1b[K")
		p.drawn = false
	}
	fmt.Fprintf(p.W, "import: %s\n", msg)
}

// finish writes the summary line.
func (p *Progress) finish(err error) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.W, "\r\x1b[K")
	}
	elapsed := p.now().Sub(p.begin)
	status := "done"
	if err != nil {
		status = "stopped"
	}
	fmt.Fprintf(p.W, "import: %s: %d events sent in %s (%s events/s)", status, p.events, elapsed.Round(time.Millisecond), rateText(p.events, elapsed))
	if p.rejected > 0 {
		fmt.Fprintf(p.W, ", %d rejected by the bridge", p.rejected)
	}
	fmt.Fprintln(p.W)
}

// line is the progress text: events, rate, share of input read, ETA.
func (p *Progress) line(now time.Time) string {
	elapsed := now.Sub(p.begin)
	s := fmt.Sprintf("%d events sent, %s events/s", p.events, rateText(p.events, elapsed))
	if p.total > 0 {
		done := p.read + p.skip
		frac := min(float64(done)/float64(p.total), 1)
		s += fmt.Sprintf(", %.1f%% of input", 100*frac)
		if frac > 0 && frac < 1 && p.read > 0 {
			// ETA from the bytes read in this run (skipped files took no time).
			left := float64(p.total-done) / float64(p.read) * float64(elapsed)
			s += ", ETA " + time.Duration(left).Round(time.Second).String()
		}
	}
	if p.rejected > 0 {
		s += fmt.Sprintf(", %d rejected", p.rejected)
	}
	return s
}

func rateText(events int64, elapsed time.Duration) string {
	if elapsed <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", float64(events)/elapsed.Seconds())
}
