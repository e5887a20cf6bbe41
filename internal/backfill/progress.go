package backfill

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/progress"
)

// Progress is the import's display on stderr: events sent, rate, and an
// ETA from the share of input bytes read, drawn by package progress (one
// line redrawn in place on a terminal, a line every Interval otherwise). A
// nil *Progress shows nothing.
type Progress struct {
	W io.Writer
	// Terminal redraws one line in place (\r) instead of writing lines.
	Terminal bool
	// Interval between lines when not on a terminal (default 10 s).
	Interval time.Duration
	// Now is the clock (tests); default time.Now.
	Now func() time.Time

	display progress.Display

	mu sync.Mutex
	// total is the input's size; done the bytes of the files finished or
	// skipped, skip those skipped; size and cur the current file's size
	// and how far into it the events sent reach.
	total, done, skip int64
	size, cur         int64
	events, rejected  int64
	duplicates        int64
}

func (p *Progress) start(totalBytes int64) {
	if p == nil {
		return
	}
	p.display = progress.Display{W: p.W, Prefix: "import", Terminal: p.Terminal, Interval: p.Interval, Now: p.Now}
	p.display.Start()
	p.mu.Lock()
	p.total = totalBytes
	p.mu.Unlock()
}

// file starts the next file, of size bytes (the one before is done).
func (p *Progress) file(size int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.done += p.size
	p.size, p.cur = size, 0
	p.mu.Unlock()
}

// at records how far into the current file the events sent reach.
func (p *Progress) at(offset int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.cur = min(max(offset, p.cur), p.size)
	p.mu.Unlock()
}

// skipBytes counts a file that needs no work as done.
func (p *Progress) skipBytes(n int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.skip += n
	p.done += n
	p.mu.Unlock()
}

// add counts an acknowledged request (duplicates of its events the bridge
// had stored already) and updates the display when due.
func (p *Progress) add(events, rejected, duplicates int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.events += events
	p.rejected += rejected
	p.duplicates += duplicates
	p.mu.Unlock()
	p.display.Update(p.line)
}

// note writes a message on its own line.
func (p *Progress) note(msg string) {
	if p == nil {
		return
	}
	p.display.Note(msg)
}

// finish writes the summary line.
func (p *Progress) finish(err error) {
	if p == nil {
		return
	}
	p.display.Finish(func(elapsed time.Duration) string {
		p.mu.Lock()
		defer p.mu.Unlock()
		status := "done"
		if err != nil {
			status = "stopped"
		}
		s := fmt.Sprintf("%s: %d events sent in %s (%s events/s)", status, p.events, elapsed.Round(time.Millisecond), progress.Rate(p.events, elapsed))
		if p.duplicates > 0 {
			s += fmt.Sprintf(", %d of them already stored (the same request within 2 min: not stored again)", p.duplicates)
		}
		if p.rejected > 0 {
			s += fmt.Sprintf(", %d rejected by the bridge", p.rejected)
		}
		return s
	})
}

// line is the progress text: events, rate, share of input read, ETA.
func (p *Progress) line(elapsed time.Duration) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := fmt.Sprintf("%d events sent, %s events/s", p.events, progress.Rate(p.events, elapsed))
	if p.total > 0 {
		done := p.done + p.cur
		frac := min(float64(done)/float64(p.total), 1)
		s += fmt.Sprintf(", %.1f%% of input", 100*frac)
		if worked := done - p.skip; frac > 0 && frac < 1 && worked > 0 {
			// ETA from the bytes sent in this run (skipped files took no time).
			left := float64(p.total-done) / float64(worked) * float64(elapsed)
			s += ", ETA " + time.Duration(left).Round(time.Second).String()
		}
	}
	if p.rejected > 0 {
		s += fmt.Sprintf(", %d rejected", p.rejected)
	}
	return s
}
