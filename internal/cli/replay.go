package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/statsig-bridge/statsig-bridge/internal/config"
	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/queue"
	"github.com/statsig-bridge/statsig-bridge/internal/specsapi"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// runReplay re-sends batches still in the log, or a destination's dead
// letters, to that one destination (see README "Replay").
func runReplay(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("replay", env)
	path := fs.String("config", "", "YAML config `file` (default: environment variables)")
	dest := fs.String("destination", "", "the configured destination to re-send to (required)")
	since := fs.String("since", "", "re-send batches stored at or after `T`: RFC 3339 (2026-05-01T10:00:00Z) or a duration back from now (2h)")
	until := fs.String("until", "", "re-send batches stored before `T` (default: up to the newest now)")
	deadLetters := fs.Bool("dead-letters", false, "re-send the destination's dead letters instead of the log, and delete those that get through")
	interval := fs.Duration("progress-interval", 10*time.Second, "time between progress lines when stderr is not a terminal")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if *dest == "" {
		return &usageError{"--destination is required"}
	}
	now := time.Now()
	opts := ReplayOptions{Destination: *dest, DeadLetters: *deadLetters, Progress: env.Stderr, ProgressInterval: *interval, Terminal: isTerminalWriter(env.Stderr)}
	var err error
	if opts.Since, err = parseReplayTime(*since, now); err != nil {
		return &usageError{"--since: " + err.Error()}
	}
	if opts.Until, err = parseReplayTime(*until, now); err != nil {
		return &usageError{"--until: " + err.Error()}
	}
	if opts.DeadLetters && (*since != "" || *until != "") {
		return &usageError{"--since and --until select batches of the log; --dead-letters re-sends all of the destination's dead letters"}
	}
	if !opts.Since.IsZero() && !opts.Until.IsZero() && !opts.Until.After(opts.Since) {
		return &usageError{"--until must be later than --since"}
	}
	cfg, err := loadConfig(*path, env)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	_, err = Replay(ctx, cfg, newLogger(env.Stderr, cfg.LogLevel), opts)
	return err
}

// parseReplayTime reads a point in time: RFC 3339, or a duration meaning that
// long before now. Empty is the zero time (no bound).
func parseReplayTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2026-05-01T10:00:00Z) nor a positive duration (2h)", s)
	}
	return now.Add(-d), nil
}

func isTerminalWriter(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

// ReplayOptions say what to re-send where.
type ReplayOptions struct {
	// Destination is the configured destination's name; only it receives.
	Destination string
	// Since and Until bound the batches re-sent by when the log stored
	// them (zero: from the oldest kept, up to the newest at the start).
	Since, Until time.Time
	// DeadLetters re-sends the destination's dead letters instead.
	DeadLetters bool
	// Progress receives the progress display (nil: none); Terminal
	// redraws one line in place, otherwise a line every ProgressInterval.
	Progress         io.Writer
	Terminal         bool
	ProgressInterval time.Duration
}

// ReplayResult counts what a replay did. Messages are the destination's
// items: an event may become two (an exposure and "Experiment Viewed").
type ReplayResult struct {
	// Batches is the number of log batches in the range (0 for dead letters).
	Batches uint64
	// Events read from the log or the dead letters.
	Events int64
	// Delivered messages; Filtered events (by the mapping); DeadLettered
	// messages the destination refused again (stored as dead letters).
	Delivered, Filtered, DeadLettered int64
	// Left is what was not settled when the replay was stopped.
	Left int64
}

// Replay re-sends to one destination, through the same encoder, writer
// and delivery loop as serve (batching, retries with backoff, Retry-After,
// bisecting a refused batch, dead letters), so messageIds are those of the
// first delivery and the destination deduplicates. Log batches are read
// with a consumer of their own: the destination's position is not moved.
func Replay(ctx context.Context, cfg *config.Config, logger *slog.Logger, opts ReplayOptions) (ReplayResult, error) {
	var res ReplayResult
	var d *config.Destination
	var names []string
	for i := range cfg.Destinations {
		names = append(names, cfg.Destinations[i].Name)
		if cfg.Destinations[i].Name == opts.Destination {
			d = &cfg.Destinations[i]
		}
	}
	if d == nil {
		return res, &configError{problems: []string{fmt.Sprintf("--destination %q is not configured (configured: %s)", opts.Destination, strings.Join(names, ", "))}}
	}
	openCtx, cancelOpen := context.WithTimeout(ctx, 30*time.Second)
	defer cancelOpen()
	log, err := queue.Open(openCtx, logConfig(cfg), logger)
	if err != nil { // queue.ErrLocked says to stop the bridge first
		return res, fmt.Errorf("opening the log: %w", err)
	}
	defer log.Close()

	var specs *specsapi.Watcher
	if cfg.Specs.ServerSecret != "" {
		specs = &specsapi.Watcher{
			Client: specsapi.NewClient(specsapi.Config{Base: cfg.Specs.API, Secret: cfg.Specs.ServerSecret}),
			Logger: logger,
		}
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := specs.Refresh(fctx); err != nil {
			logger.Warn("fetching Statsig config specs failed; experiments are mapped as config exposures", "err", err)
		}
		cancel()
	}
	benv := buildEnv{Cfg: cfg, Specs: specsFunc(specs), Logger: logger}
	enc, err := buildEncoder(benv, *d)
	if err != nil {
		return res, err
	}
	f, _ := factoryFor(*d)
	w, closeWriter, err := f.Writer(benv, *d)
	if err != nil {
		return res, fmt.Errorf("destination %s: %w", d.Name, err)
	}
	if closeWriter != nil {
		defer func() {
			if err := closeWriter(); err != nil {
				logger.Warn("closing the destination", "destination", d.Name, "err", err)
			}
		}()
	}
	p := &replayProgress{w: opts.Progress, terminal: opts.Terminal, every: opts.ProgressInterval, begin: time.Now(), name: d.Name}
	rcfg := destination.Config{
		Name:              d.Name,
		Writer:            w,
		Encoder:           countingEncoder{Encoder: enc, n: &p.events},
		Log:               log,
		Metrics:           destination.NewMetrics(prometheus.NewRegistry()),
		Logger:            logger,
		Observer:          p,
		Concurrency:       d.Delivery.Concurrency,
		Parallelism:       d.Delivery.Parallelism,
		FlushInterval:     d.Delivery.FlushInterval,
		MaxBatchItems:     d.Delivery.MaxBatchEvents,
		RequestsPerSecond: d.Delivery.RequestsPerSecond,
		Retry:             d.Delivery.Retry,
		AckWait:           cfg.Log.AckWait,
		DrainTimeout:      2 * time.Second, // on Ctrl-C: what is unsettled is simply not replayed
	}
	if opts.DeadLetters {
		res, err = replayDeadLetters(ctx, log, rcfg, p)
	} else {
		res, err = replayLog(ctx, log, rcfg, p, opts, cfg.Log.AckWait)
	}
	p.finish(res, err)
	return res, err
}

// replayLog re-sends the log's batches in [Since, Until) through a Runner
// reading a replay consumer, until the consumer has acked the range.
func replayLog(ctx context.Context, log *queue.Log, rcfg destination.Config, p *replayProgress, opts ReplayOptions, ackWait time.Duration) (ReplayResult, error) {
	var res ReplayResult
	rc, rng, err := log.ReplayConsumer(ctx, rcfg.Name, opts.Since, opts.Until, queue.ConsumerOptions{AckWait: ackWait})
	if err != nil {
		return res, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := rc.Close(cctx); err != nil {
			rcfg.Logger.Warn("removing the replay's reader; the server drops it after an hour unused", "err", err)
		}
	}()
	res.Batches = rng.Batches()
	p.start(rng)
	if res.Batches == 0 {
		return res, nil
	}
	rcfg.Consumer = rc
	runner := destination.NewRunner(rcfg)
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	ran := make(chan error, 1)
	go func() { ran <- runner.Run(runCtx) }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var runErr, goneErr error
	floor := rng.First - 1
	finished := false
	for !finished {
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
		return res, fmt.Errorf("replay stopped with %d batches left: %w", res.Left, err)
	}
	if runErr == nil && res.Left > 0 {
		runErr = fmt.Errorf("replay stopped with %d batches left", res.Left)
	}
	return res, runErr
}

// replayDeadLetters re-drives every dead letter the destination has now
// (those refused again get new dead letters and are not re-sent twice).
func replayDeadLetters(ctx context.Context, log *queue.Log, rcfg destination.Config, p *replayProgress) (ReplayResult, error) {
	var res ReplayResult
	n := 0
	for from := uint64(1); ; {
		page, err := log.DeadLetterEntries(ctx, rcfg.Name, from, 1000)
		if err != nil {
			return res, err
		}
		if len(page) == 0 {
			break
		}
		n += len(page)
		from = page[len(page)-1].Seq + 1
	}
	p.startDeadLetters(n)
	if n == 0 {
		return res, nil
	}
	runner := destination.NewRunner(rcfg)
	stopTicks := make(chan struct{})
	var ticking sync.WaitGroup
	ticking.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
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
		return res, fmt.Errorf("re-sending dead letters (%d left): %w", rr.Left, err)
	}
	return res, nil
}

// replayProgress counts outcomes (it is the runner's Observer) and draws
// the display: events, rate, share done and ETA.
type replayProgress struct {
	w        io.Writer
	terminal bool
	every    time.Duration
	begin    time.Time
	name     string

	events, delivered, filtered, deadLettered atomic.Int64

	mu          sync.Mutex
	last        time.Time
	drawn       bool
	first, end  uint64 // log range
	ackFloor    uint64
	deadLetters int // dead letters to re-send
}

// Outcome implements destination.Observer.
func (p *replayProgress) Outcome(o destination.Outcome) {
	switch o.Status {
	case "delivered":
		p.delivered.Add(1)
	case "filtered":
		p.filtered.Add(1)
	case "dead_lettered":
		p.deadLettered.Add(1)
	}
}

// countingEncoder counts the events the delivery loop reads: it encodes
// each event once (again only if its batch is redelivered).
type countingEncoder struct {
	destination.Encoder
	n *atomic.Int64
}

func (c countingEncoder) Encode(b *statsig.Batch, e *statsig.Event) destination.Encoded {
	c.n.Add(1)
	return c.Encoder.Encode(b, e)
}

func (p *replayProgress) start(rng queue.ReplayRange) {
	p.mu.Lock()
	p.first, p.end, p.ackFloor = rng.First, rng.Last, rng.First-1
	p.mu.Unlock()
	if p.w == nil {
		return
	}
	if rng.Batches() == 0 {
		fmt.Fprintf(p.w, "replay: no batches in the log for that time range (acked batches are kept only for log.keep)\n")
		return
	}
	fmt.Fprintf(p.w, "replay: re-sending %d batches (log sequences %d–%d) to %s\n", rng.Batches(), rng.First, rng.Last, p.name)
}

func (p *replayProgress) startDeadLetters(n int) {
	p.mu.Lock()
	p.deadLetters = n
	p.mu.Unlock()
	if p.w != nil {
		fmt.Fprintf(p.w, "replay: re-sending %d dead letters to %s\n", n, p.name)
	}
}

func (p *replayProgress) floor(seq uint64) {
	p.mu.Lock()
	p.ackFloor = max(p.ackFloor, seq)
	p.mu.Unlock()
	p.tick()
}

// tick redraws the display when due.
func (p *replayProgress) tick() {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	every := p.every
	if every <= 0 {
		every = 10 * time.Second
	}
	switch {
	case p.terminal && now.Sub(p.last) >= 200*time.Millisecond:
		fmt.Fprintf(p.w, "\r\x1b[K%s", p.line(now))
		p.drawn, p.last = true, now
	case !p.terminal && now.Sub(p.last) >= every:
		fmt.Fprintf(p.w, "replay: %s\n", p.line(now))
		p.last = now
	}
}

// share is the fraction done: of the log range by the ack floor, or of the
// dead letters by their settled events.
func (p *replayProgress) share() float64 {
	if p.deadLetters > 0 {
		settled := p.delivered.Load() + p.filtered.Load() + p.deadLettered.Load()
		return min(float64(settled)/float64(p.deadLetters), 1)
	}
	if p.end < p.first {
		return 1
	}
	return float64(min(p.ackFloor, p.end)+1-p.first) / float64(p.end+1-p.first)
}

func (p *replayProgress) line(now time.Time) string {
	elapsed := now.Sub(p.begin)
	ev := p.events.Load()
	s := fmt.Sprintf("%d events, %s events/s", ev, rateOf(ev, elapsed))
	frac := p.share()
	s += fmt.Sprintf(", %.1f%% done", 100*frac)
	if frac > 0 && frac < 1 {
		s += ", ETA " + time.Duration(float64(elapsed)*(1-frac)/frac).Round(time.Second).String()
	}
	if n := p.deadLettered.Load(); n > 0 {
		s += fmt.Sprintf(", %d refused", n)
	}
	return s
}

func (p *replayProgress) result(res ReplayResult) ReplayResult {
	res.Events = p.events.Load()
	res.Delivered = p.delivered.Load()
	res.Filtered = p.filtered.Load()
	res.DeadLettered = p.deadLettered.Load()
	return res
}

// finish writes the summary line.
func (p *replayProgress) finish(res ReplayResult, err error) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
	status := "done"
	if err != nil {
		status = "stopped"
	}
	elapsed := time.Since(p.begin)
	fmt.Fprintf(p.w, "replay: %s: %d events in %s (%s events/s): %d messages delivered to %s, %d events filtered, %d refused (dead-lettered)",
		status, res.Events, elapsed.Round(time.Millisecond), rateOf(res.Events, elapsed), res.Delivered, p.name, res.Filtered, res.DeadLettered)
	if res.Left > 0 {
		unit := "batches"
		if p.deadLetters > 0 {
			unit = "dead letters"
		}
		fmt.Fprintf(p.w, ", %d %s left", res.Left, unit)
	}
	fmt.Fprintln(p.w)
}

func rateOf(n int64, elapsed time.Duration) string {
	if elapsed <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", float64(n)/elapsed.Seconds())
}
