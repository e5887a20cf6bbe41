package destination

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/progress"
	"github.com/statsig-bridge/statsig-bridge/internal/queue"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// ReplayResult counts what a replay did. Messages are the destination's
// items: an event may become two (an exposure and "Experiment Viewed").
type ReplayResult struct {
	// Batches is the number of log batches in the range (0 for dead letters).
	Batches uint64
	// Events read from the log or the dead letters.
	Events int64
	// Delivered messages; Filtered events (by the mapping); DeadLettered
	// messages the destination refused (or that failed until retries ran
	// out), stored as dead letters.
	Delivered, Filtered, DeadLettered int64
	// NotSent counts, by reason (no_user_anon_id, message_too_big, …), the
	// messages that could not be sent at all and were dead-lettered.
	NotSent map[string]int64
	// AlreadyDeadLettered messages were not sent and stored no new dead
	// letter: the destination has one for them, for the same reason.
	AlreadyDeadLettered int64
	// Left is what was not settled when the replay was stopped.
	Left int64
}

// replayPoll is how often a replay asks the log how far it has got.
const replayPoll = 100 * time.Millisecond

// ReplayLog re-sends the log's batches stored in [since, until) to the
// destination cfg describes, through the same delivery loop as serve
// (batching, retries, Retry-After, bisection, dead letters), so messageIds
// are those of the first delivery. The batches are read with a consumer of
// their own: the destination's position in the log is not moved. It
// returns when every batch of the range is settled, or ctx ends. cfg's
// Consumer, Encoder counting and Observer are set here; d shows progress.
func ReplayLog(ctx context.Context, log *queue.Log, cfg Config, since, until time.Time, d *progress.Display) (ReplayResult, error) {
	var res ReplayResult
	rc, rng, err := log.ReplayConsumer(ctx, cfg.Name, since, until, queue.ConsumerOptions{AckWait: cfg.AckWait})
	if err != nil {
		return res, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := rc.Close(cctx); err != nil && cfg.Logger != nil {
			cfg.Logger.Warn("removing the replay's reader; the server drops it after an hour unused", "err", err)
		}
	}()
	p := newReplayCount(cfg.Name, d)
	p.first, p.end, p.ackFloor = rng.First, rng.Last, rng.First-1
	// Events that fail as they failed before keep their one dead letter.
	known, err := deadLetterKeys(ctx, log, cfg.Name)
	if err != nil {
		return res, err
	}
	cfg.DeadLettered = func(key string) bool { _, ok := known[key]; return ok }
	res.Batches = rng.Batches()
	d.Start()
	if res.Batches == 0 {
		d.Note("no batches in the log for that time range (acked batches are kept only for log.keep)")
		p.finish(res, "batches", nil)
		return res, nil
	}
	d.Note(fmt.Sprintf("re-sending %d batches (log sequences %d–%d) to %s", rng.Batches(), rng.First, rng.Last, cfg.Name))
	cfg.Consumer = rc
	runner := NewRunner(p.wrap(cfg))
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	ran := make(chan error, 1)
	go func() { ran <- runner.Run(runCtx) }()
	tick := time.NewTicker(replayPoll)
	defer tick.Stop()
	var runErr, goneErr error
	floor := rng.First - 1
	for finished := false; !finished; {
		select {
		case <-ctx.Done():
			finished = true
		case runErr = <-ran:
			ran = nil
			finished = true
		case <-tick.C:
			f, err := rc.AckFloor(ctx)
			if errors.Is(err, queue.ErrReplayGone) {
				goneErr, finished = err, true
				continue
			}
			if err != nil {
				continue // a passing hiccup: the next tick asks again
			}
			floor = max(floor, f)
			p.floor(floor)
			finished = floor >= rng.Last
		}
	}
	stopRun()
	if ran != nil {
		runErr = <-ran
	}
	res = p.result(res)
	if f, err := rc.AckFloor(context.WithoutCancel(ctx)); err == nil {
		floor = max(floor, f)
	}
	if floor < rng.Last {
		res.Left = int64(rng.Last - floor)
	}
	if err := cmp.Or(ctx.Err(), goneErr); err != nil {
		err = fmt.Errorf("replay stopped with %d batches left: %w", res.Left, err)
		p.finish(res, "batches", err)
		return res, err
	}
	if runErr == nil && res.Left > 0 {
		runErr = fmt.Errorf("replay stopped with %d batches left", res.Left)
	}
	p.finish(res, "batches", runErr)
	return res, runErr
}

// deadLetterKeys lists the keys (DeadLetterKey) of the destination's dead
// letters.
func deadLetterKeys(ctx context.Context, log *queue.Log, name string) (map[string]struct{}, error) {
	keys := map[string]struct{}{}
	for from := uint64(1); ; {
		page, err := log.DeadLetterEntries(ctx, name, from, 1000)
		if err != nil {
			return nil, fmt.Errorf("reading the dead letters of %s: %w", name, err)
		}
		if len(page) == 0 {
			return keys, nil
		}
		for _, e := range page {
			var dl DeadLetter
			if json.Unmarshal(e.Data, &dl) == nil {
				if k := dl.Key(); k != "" {
					keys[k] = struct{}{}
				}
			}
		}
		from = page[len(page)-1].Seq + 1
	}
}

// ReplayDeadLetters re-drives every dead letter the destination has now
// through Runner.Redrive (those refused again get new dead letters and are
// not re-sent twice); d shows progress.
func ReplayDeadLetters(ctx context.Context, log *queue.Log, cfg Config, d *progress.Display) (ReplayResult, error) {
	var res ReplayResult
	n := 0
	for from := uint64(1); ; {
		page, err := log.DeadLetterEntries(ctx, cfg.Name, from, 1000)
		if err != nil {
			return res, err
		}
		if len(page) == 0 {
			break
		}
		n += len(page)
		from = page[len(page)-1].Seq + 1
	}
	p := newReplayCount(cfg.Name, d)
	p.deadLetters = n
	d.Start()
	d.Note(fmt.Sprintf("re-sending %d dead letters to %s", n, cfg.Name))
	if n == 0 {
		p.finish(res, "dead letters", nil)
		return res, nil
	}
	runner := NewRunner(p.wrap(cfg))
	stopTicks := make(chan struct{})
	var ticking sync.WaitGroup
	ticking.Go(func() {
		t := time.NewTicker(replayPoll)
		defer t.Stop()
		for {
			select {
			case <-stopTicks:
				return
			case <-t.C:
				p.tick()
			}
		}
	})
	rr, err := runner.Redrive(ctx, n)
	close(stopTicks)
	ticking.Wait()
	res = p.result(res)
	res.Left = int64(rr.Left)
	if err != nil {
		err = fmt.Errorf("re-sending dead letters (%d left): %w", rr.Left, err)
	}
	p.finish(res, "dead letters", err)
	return res, err
}

// replayCount counts a replay's outcomes (it is the runner's Observer) and
// says what the progress line shows: events, rate, share done and ETA.
type replayCount struct {
	name    string
	display *progress.Display
	next    Observer // the caller's observer, if any

	events, delivered, filtered, deadLettered, already atomic.Int64

	notSentMu sync.Mutex
	notSent   map[string]int64 // by reason

	mu          sync.Mutex
	first, end  uint64 // log range
	ackFloor    uint64
	deadLetters int // dead letters to re-send
}

func newReplayCount(name string, d *progress.Display) *replayCount {
	return &replayCount{name: name, display: d}
}

// wrap has cfg count events through p.
func (p *replayCount) wrap(cfg Config) Config {
	p.next = cfg.Observer
	cfg.Observer = p
	cfg.Encoder = countingEncoder{Encoder: cfg.Encoder, n: &p.events}
	return cfg
}

// Outcome implements Observer.
func (p *replayCount) Outcome(o Outcome) {
	switch o.Status {
	case StatusDelivered:
		p.delivered.Add(1)
	case StatusFiltered:
		p.filtered.Add(1)
	case StatusDeadLettered:
		switch {
		case o.AlreadyDeadLettered:
			p.already.Add(1)
		case o.Reason == reasonRejected || o.Reason == reasonRetriesExhausted:
			p.deadLettered.Add(1)
		default: // never sent: the message could not be made
			p.notSentMu.Lock()
			if p.notSent == nil {
				p.notSent = map[string]int64{}
			}
			p.notSent[o.Reason]++
			p.notSentMu.Unlock()
		}
	}
	if p.next != nil {
		p.next.Outcome(o)
	}
}

// countingEncoder counts the events the delivery loop reads: it encodes
// each event once (again only if its batch is redelivered).
type countingEncoder struct {
	Encoder
	n *atomic.Int64
}

func (c countingEncoder) Encode(b *statsig.Batch, e *statsig.Event) Encoded {
	c.n.Add(1)
	return c.Encoder.Encode(b, e)
}

func (p *replayCount) floor(seq uint64) {
	p.mu.Lock()
	p.ackFloor = max(p.ackFloor, seq)
	p.mu.Unlock()
	p.tick()
}

func (p *replayCount) tick() { p.display.Update(p.line) }

// share is the fraction done: of the log range by the ack floor, or of the
// dead letters by their settled events.
func (p *replayCount) share() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.deadLetters > 0 {
		settled := p.delivered.Load() + p.filtered.Load() + p.deadLettered.Load()
		return min(float64(settled)/float64(p.deadLetters), 1)
	}
	if p.end < p.first {
		return 1
	}
	return float64(min(p.ackFloor, p.end)+1-p.first) / float64(p.end+1-p.first)
}

func (p *replayCount) line(elapsed time.Duration) string {
	ev := p.events.Load()
	frac := p.share()
	s := fmt.Sprintf("%d events, %s events/s, %.1f%% done", ev, progress.Rate(ev, elapsed), 100*frac)
	if eta := progress.ETA(frac, elapsed); eta != "" {
		s += ", ETA " + eta
	}
	if n := p.deadLettered.Load(); n > 0 {
		s += fmt.Sprintf(", %d refused", n)
	}
	return s
}

func (p *replayCount) result(res ReplayResult) ReplayResult {
	res.Events = p.events.Load()
	res.Delivered = p.delivered.Load()
	res.Filtered = p.filtered.Load()
	res.DeadLettered = p.deadLettered.Load()
	res.AlreadyDeadLettered = p.already.Load()
	p.notSentMu.Lock()
	res.NotSent = maps.Clone(p.notSent)
	p.notSentMu.Unlock()
	return res
}

// finish writes the summary line; unit names what Left counts.
func (p *replayCount) finish(res ReplayResult, unit string, err error) {
	p.display.Finish(func(elapsed time.Duration) string {
		status := "done"
		if err != nil {
			status = "stopped"
		}
		s := fmt.Sprintf("%s: %d events in %s (%s events/s): %d messages delivered to %s, %d events filtered, %d refused by %s (dead-lettered)",
			status, res.Events, elapsed.Round(time.Millisecond), progress.Rate(res.Events, elapsed), res.Delivered, p.name, res.Filtered, res.DeadLettered, p.name)
		for _, reason := range slices.Sorted(maps.Keys(res.NotSent)) {
			s += fmt.Sprintf(", %d not sent (%s) and dead-lettered", res.NotSent[reason], ReasonText(reason))
		}
		if res.AlreadyDeadLettered > 0 {
			s += fmt.Sprintf(", %d not sent again (dead letters already, for the same reason)", res.AlreadyDeadLettered)
		}
		if res.Left > 0 {
			s += fmt.Sprintf(", %d %s left", res.Left, unit)
		}
		return s
	})
}
