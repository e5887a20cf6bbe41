package destination

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/statsig-bridge/statsig-bridge/internal/delivery"
	"github.com/statsig-bridge/statsig-bridge/internal/logconfig"
	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
	"github.com/statsig-bridge/statsig-bridge/internal/queue"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// Config configures one destination's delivery.
type Config struct {
	Name     string
	Writer   Writer
	Encoder  Encoder
	Consumer *queue.Consumer
	Log      *queue.Log
	Metrics  *Metrics
	Logger   *slog.Logger
	// Observer, if set, hears every event outcome (the debugger).
	Observer Observer

	// Options tune batching, concurrency, the request rate and retries;
	// zero fields take package delivery's defaults, the same the
	// configuration shows.
	delivery.Options
	// AckWait is the log consumer's ack wait; long retries signal progress
	// at a third of it so the log does not redeliver work in hand.
	AckWait time.Duration
	// DrainTimeout bounds how long in-flight deliveries may finish after
	// shutdown begins; unfinished events stay in the log for the next run.
	DrainTimeout time.Duration
	// Dedupe, if set, is the destination's dedupe_exposures state: only
	// the first exposure per key within the window is delivered.
	Dedupe *Dedupe
	// Identities, if set, is the destination's identify state
	// (identify: on_change).
	Identities *Identities
	// DeadLettered, if set, says whether a dead letter with this key
	// (DeadLetterKey) is stored already: such an event is not
	// dead-lettered twice (a replay of events that failed before).
	DeadLettered func(key string) bool
	// Priority, if set, orders the destinations' use of the CPU (see
	// Priority): a Streaming destination's work is foreground; a
	// warehouse with MaxLag > 0 gives way to foreground work waiting for
	// a CPU while it is less than MaxLag behind the log.
	Priority  *Priority
	Streaming bool
	MaxLag    time.Duration
}

// Status is what happened to an event at a destination. Observers switch on
// it; String is its stable name in the debugger's API.
type Status string

// The statuses.
const (
	StatusDelivered    Status = "delivered"
	StatusFiltered     Status = "filtered"
	StatusDeadLettered Status = "dead_lettered"
	// StatusNote is a mapping note ahead of the event's outcome.
	StatusNote Status = "note"
	// StatusRetrying is a failed attempt at a batch.
	StatusRetrying Status = "retrying"
)

// Observer hears event outcomes.
type Observer interface {
	Outcome(o Outcome)
}

// Outcome is what happened to one event at one destination.
type Outcome struct {
	Destination string
	Batch       *statsig.Batch
	Event       *statsig.Event
	// Status says what happened; with StatusRetrying, Batch and Event
	// are nil, Count the batch's items, Reason the error class and Note the
	// error.
	Status   Status
	Reason   string
	Note     string
	Payload  []byte
	Attempts int
	Count    int
	// Redriven marks the outcome of a re-driven dead letter: it replaces
	// the event's earlier outcome.
	Redriven bool
	// AlreadyDeadLettered marks a dead-lettered outcome that stored no
	// new record: the event was a dead letter for this reason already.
	AlreadyDeadLettered bool
	At                  time.Time
}

// Runner delivers one destination's events from the log.
type Runner struct {
	cfg     Config
	limits  Limits
	limiter *delivery.Ceiling
	log     *slog.Logger

	paused    atomic.Bool
	lastError atomic.Pointer[string]
	health    atomic.Pointer[Health]
	stopOnce  sync.Once
	stoppedAt time.Time
	// notBefore (Unix ns) holds every worker back after a 429 or a 401.
	notBefore atomic.Int64
	// retrying counts the items of batches that failed at least once and
	// are not settled yet.
	retrying atomic.Int64
	// redriving allows one re-drive of dead letters at a time.
	redriving sync.Mutex

	// progress is what the fetches saw last (see Priority); yielding
	// counts the fetch loops giving way to foreground work.
	progress fetchProgress
	yielding atomic.Int32

	// perMsg is the events per log message seen, ×16 (a moving average;
	// see fetchSize).
	perMsg atomic.Int64

	// inflight holds every log message begun and not yet acked, and
	// fetched every one fetched and not yet begun (with when), so that
	// keepAlive can tell the log they are still being worked on. A fetch
	// loop begins a fetch's messages one at a time and waits for a worker
	// between them: during an outage the rest of a fetch waits for minutes
	// too, and without a sign of progress the log hands them out again (to
	// the other fetch loop: the same events twice).
	mu       sync.Mutex
	inflight map[*logMessage]struct{}
	fetched  map[*queue.Message]time.Time
}

// NewRunner checks cfg, fills defaults and returns a Runner.
func NewRunner(cfg Config) *Runner {
	cfg.Options = cfg.Options.WithDefaults()
	if cfg.AckWait <= 0 {
		cfg.AckWait = logconfig.DefaultAckWait
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	lim := cfg.Writer.Limits()
	if lim.MaxItems <= 0 || cfg.MaxBatchEvents < lim.MaxItems {
		lim.MaxItems = cfg.MaxBatchEvents
	}
	r := &Runner{
		cfg:      cfg,
		limits:   lim,
		limiter:  delivery.NewCeiling(cfg.RequestsPerSecond),
		log:      cfg.Logger.With("destination", cfg.Name),
		inflight: map[*logMessage]struct{}{},
		fetched:  map[*queue.Message]time.Time{},
	}
	if cfg.Priority != nil && cfg.Streaming {
		cfg.Priority.add(&r.progress)
	}
	return r
}

// Name returns the destination's name.
func (r *Runner) Name() string { return r.cfg.Name }

// Status reports whether the destination is paused and its last error.
func (r *Runner) Status() (paused bool, lastError string) {
	if p := r.lastError.Load(); p != nil {
		lastError = *p
	}
	return r.paused.Load(), lastError
}

// SetObserver sets the outcome observer (the debugger); call before Run.
func (r *Runner) SetObserver(o Observer) { r.cfg.Observer = o }

// Retrying returns the number of events in batches that failed at least
// once and are still being retried.
func (r *Runner) Retrying() int64 { return r.retrying.Load() }

// Lag returns the log messages not yet delivered to this destination:
// not yet fetched plus fetched and not yet acked.
func (r *Runner) Lag(ctx context.Context) (uint64, error) {
	pending, ackPending, err := r.cfg.Consumer.Lag(ctx)
	return pending + uint64(max(ackPending, 0)), err
}

// logMessage is one log message being delivered: it is acked when its last
// event has an outcome.
type logMessage struct {
	msg       *queue.Message
	batch     *statsig.Batch
	fetched   time.Time
	remaining atomic.Int32
	// redrive is set on a re-driven dead letter (msg is nil then).
	redrive *redriven
}

type item struct {
	payload []byte
	// parsed is the payload's Encoded.Parsed (or ExtraParsed), or nil.
	parsed any
	lm     *logMessage
	ev     *statsig.Event
	// ident is set on an identify: its traits are recorded once delivered.
	ident *mapping.Identify
}

// Run delivers until ctx is cancelled, then drains: it stops fetching, sends
// what it has batched, and gives in-flight deliveries DrainTimeout to finish.
func (r *Runner) Run(ctx context.Context) error {
	r.progress.polledAt.Store(time.Now().UnixNano())
	deliverCtx, cancelDeliver := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelDeliver()
	work := make(chan []item, r.cfg.Concurrency)
	var wg sync.WaitGroup
	for range r.cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				r.deliver(deliverCtx, b, 0)
			}
		}()
	}
	lagCtx, stopLag := context.WithCancel(ctx)
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.watchLag(lagCtx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.watchTarget(lagCtx)
	}()
	aliveCtx, stopAlive := context.WithCancel(deliverCtx)
	var alive sync.WaitGroup
	alive.Add(1)
	go func() {
		defer alive.Done()
		r.keepAlive(aliveCtx)
	}()
	defer func() {
		stopAlive()
		alive.Wait()
	}()

	// Several fetch loops share the durable consumer: decoding and mapping
	// are CPU work that one goroutine would serialise.
	var loops sync.WaitGroup
	errs := make([]error, r.cfg.Parallelism)
	for i := range r.cfg.Parallelism {
		loops.Add(1)
		go func() {
			defer loops.Done()
			errs[i] = r.fetchLoop(ctx, work)
		}()
	}
	loops.Wait()
	close(work)
	stopLag()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	// One drain budget from the moment shutdown began, shared with the
	// fetch loops' last flush.
	drainLeft := time.Until(r.stopping().Add(r.cfg.DrainTimeout))
	select {
	case <-done:
	case <-time.After(drainLeft):
		r.log.Warn("drain timeout: leaving undelivered events in the log for the next start")
		cancelDeliver()
		<-done
	}
	return errors.Join(errs...)
}

// stopping returns when shutdown began (the first caller's clock).
func (r *Runner) stopping() time.Time {
	r.stopOnce.Do(func() { r.stoppedAt = time.Now() })
	return r.stoppedAt
}

// fetchLoop reads the log, encodes events and fills batches.
func (r *Runner) fetchLoop(ctx context.Context, work chan<- []item) error {
	var (
		cur      []item
		curBytes int
		opened   time.Time
	)
	// flush hands the open batch to a worker, blocking while every worker
	// is busy (back-pressure) until stop is closed: a shutdown while the
	// workers retry against a target that is down must not wait for them
	// forever. A batch not handed over stays unacked in the log.
	flush := func(stop <-chan struct{}) bool {
		if len(cur) == 0 {
			return true
		}
		select {
		case work <- cur:
			cur, curBytes = nil, 0
			r.progress.activeAt.Mark(time.Now())
			return true
		case <-stop:
			return false
		}
	}
	// finish sends what is batched if a worker frees up within the drain
	// timeout.
	finish := func() error {
		drain, cancel := context.WithDeadline(context.Background(), r.stopping().Add(r.cfg.DrainTimeout))
		defer cancel()
		flush(drain.Done())
		return nil
	}
	wait := min(r.cfg.FlushInterval/4, 250*time.Millisecond)
	wait = max(wait, 20*time.Millisecond)
	for {
		if ctx.Err() != nil {
			return finish()
		}
		if r.background() && !r.yield(ctx, flush) {
			return finish()
		}
		msgs, err := r.cfg.Consumer.Fetch(ctx, r.fetchSize(), wait)
		if err == nil {
			now := time.Now()
			r.progress.saw(msgs, now)
			r.mu.Lock()
			for _, m := range msgs {
				r.fetched[m] = now
			}
			r.mu.Unlock()
		}
		if err != nil && ctx.Err() == nil {
			r.log.Warn("reading the log", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
		// queueMsg batches one log message's encoded events (enc(i) is
		// event i's, due says whether its identify goes ahead of it); false
		// when shutdown came while every worker was busy.
		queueMsg := func(lm *logMessage, enc func(i int) *Encoded, due func(i int) bool) bool {
			b := lm.batch
			for i := range b.Events {
				ev, enc := &b.Events[i], enc(i)
				if enc.Note.Unresolved() {
					r.cfg.Metrics.Unresolved.WithLabelValues(r.cfg.Name).Inc()
				}
				switch {
				case enc.Filtered:
					r.cfg.Metrics.Filtered.WithLabelValues(r.cfg.Name, string(enc.Kind), string(enc.Filter)).Inc()
					r.observe(Outcome{Status: StatusFiltered, Batch: b, Event: ev, Reason: enc.Reason, Note: enc.Note.String()})
					r.done(lm)
					continue
				case enc.Invalid:
					r.deadLetter(ctx, []item{{payload: enc.Payload, lm: lm, ev: ev}}, enc.Reason, "", 0)
					continue
				}
				if r.cfg.Observer != nil && enc.Note != 0 {
					r.observe(Outcome{Status: StatusNote, Batch: b, Event: ev, Note: enc.Note.String(), Payload: enc.Payload})
				}
				var ident *mapping.Identify
				if due != nil && due(i) {
					ident = enc.Identify
					lm.remaining.Add(1) // the identify goes ahead of the event
				}
				payloads := [3][]byte{nil, enc.Payload, enc.Extra}
				parsed := [3]any{nil, enc.Parsed, enc.ExtraParsed}
				if ident != nil {
					payloads[0] = ident.JSON
				}
				if enc.Extra != nil {
					lm.remaining.Add(1) // two messages, two outcomes
				}
				for j, p := range payloads {
					if p == nil {
						continue
					}
					n := len(p)
					if len(cur) > 0 && (len(cur)+1 > r.limits.MaxItems || r.limits.size(len(cur)+1, curBytes+n) > r.limits.MaxBytes) {
						if !flush(ctx.Done()) {
							return false
						}
					}
					if len(cur) == 0 {
						opened = time.Now()
					}
					it := item{payload: p, parsed: parsed[j], lm: lm, ev: ev}
					if j == 0 {
						it.ident = ident
					}
					cur = append(cur, it)
					curBytes += n
				}
			}
			r.done(lm)
			return true
		}
		if r.cfg.Dedupe == nil && r.cfg.Identities == nil {
			// No state to consult: each message is encoded and batched in
			// turn, so workers get batches while the rest is mapped.
			var enc Encoded
			for _, m := range msgs {
				lm := r.begin(ctx, m)
				if lm == nil {
					continue
				}
				b := lm.batch
				if !queueMsg(lm, func(i int) *Encoded { enc = r.cfg.Encoder.Encode(b, &b.Events[i]); return &enc }, nil) {
					return finish()
				}
			}
		} else {
			// The state is consulted for the whole fetch at once: one
			// pipelined round trip instead of one per message.
			batch := r.prepare(ctx, msgs)
			if !r.applyState(ctx, batch) {
				return finish()
			}
			for _, p := range batch {
				var due func(i int) bool
				if p.identify != nil {
					due = func(i int) bool { return p.identify[i] }
				}
				if !queueMsg(p.lm, func(i int) *Encoded { return &p.encs[i] }, due) {
					return finish()
				}
			}
		}
		if len(cur) > 0 && (len(msgs) == 0 || time.Since(opened) >= r.cfg.FlushInterval) {
			if !flush(ctx.Done()) {
				return finish()
			}
		}
	}
}

// Fetch sizes, in log messages.
const (
	minFetch = 4
	maxFetch = 256
)

// fetchSize is how many log messages one Fetch asks for: about a batch's
// worth of events at the events per message seen so far. Every fetched
// message is held (raw, decoded, encoded) until its last event has an
// outcome, so a fixed 256 messages of 100-event requests held 25,600
// events per fetch loop beyond the batches in flight: most of a
// destination's memory under a backlog.
func (r *Runner) fetchSize() int {
	avg := r.perMsg.Load()
	if avg <= 0 {
		return maxFetch / 4
	}
	return min(max(int(int64(r.limits.MaxItems)*16/avg), minFetch), maxFetch)
}

// seen adds a message of n events to the moving average of fetchSize.
func (r *Runner) seen(n int) {
	n16 := int64(max(n, 1)) * 16
	for {
		old := r.perMsg.Load()
		next := n16
		if old > 0 {
			next = old + (n16-old)/8
		}
		if r.perMsg.CompareAndSwap(old, next) {
			return
		}
	}
}

// prepared is one log message with its events encoded.
type prepared struct {
	lm   *logMessage
	encs []Encoded
	// identify marks the events whose identify is due (nil: none).
	identify []bool
}

// begin decodes a fetched message and puts it in flight, holding one
// outcome until all its events are queued; a message that does not decode
// is dead-lettered whole (nil).
func (r *Runner) begin(ctx context.Context, m *queue.Message) *logMessage {
	data, err := m.Data()
	var b *statsig.Batch
	if err == nil {
		b, err = statsig.DecodeBatch(data)
	}
	if err != nil {
		r.mu.Lock()
		delete(r.fetched, m)
		r.mu.Unlock()
		r.deadLetterRaw(ctx, m, err)
		return nil
	}
	lm := &logMessage{msg: m, batch: b}
	r.seen(len(b.Events))
	lm.remaining.Store(int32(len(b.Events)) + 1) // +1 held until all are queued
	// From fetched to inflight in one step, keeping when it was fetched:
	// keepAlive never misses it.
	r.mu.Lock()
	at, ok := r.fetched[m]
	delete(r.fetched, m)
	if !ok {
		at = time.Now()
	}
	lm.fetched = at
	r.inflight[lm] = struct{}{}
	r.mu.Unlock()
	return lm
}

// prepare begins every fetched message and encodes its events, for the
// state to be consulted on all of them at once.
func (r *Runner) prepare(ctx context.Context, msgs []*queue.Message) []prepared {
	out := make([]prepared, 0, len(msgs))
	for _, m := range msgs {
		lm := r.begin(ctx, m)
		if lm == nil {
			continue
		}
		b := lm.batch
		encs := make([]Encoded, len(b.Events))
		for i := range b.Events {
			encs[i] = r.cfg.Encoder.Encode(b, &b.Events[i])
		}
		out = append(out, prepared{lm: lm, encs: encs})
	}
	return out
}

func (r *Runner) observe(o Outcome) {
	if r.cfg.Observer != nil {
		o.Destination = r.cfg.Name
		if o.At.IsZero() {
			o.At = time.Now()
		}
		r.cfg.Observer.Outcome(o)
	}
}

// done records one outcome for a log message and acks it after the last.
func (r *Runner) done(lm *logMessage) {
	if lm.remaining.Add(-1) != 0 {
		return
	}
	if lm.redrive != nil {
		r.settleRedrive(lm)
		return
	}
	r.mu.Lock()
	delete(r.inflight, lm)
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := lm.msg.Ack(ctx); err != nil {
		r.log.Warn("acking a log message; it will be redelivered and deduplicated by messageId", "seq", lm.msg.Seq(), "err", err)
	}
}

// keepAlive tells the log, every third of the ack wait, that each fetched
// and unfinished message is still in progress: batches waiting for a worker
// or retrying through a long outage are not handed out a second time.
func (r *Runner) keepAlive(ctx context.Context) {
	every := max(r.cfg.AckWait/3, 50*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	var batch []*queue.Message
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cutoff := time.Now().Add(-every)
		batch = batch[:0]
		r.mu.Lock()
		for lm := range r.inflight {
			if lm.fetched.Before(cutoff) {
				batch = append(batch, lm.msg)
			}
		}
		for m, at := range r.fetched {
			if at.Before(cutoff) {
				batch = append(batch, m)
			}
		}
		r.mu.Unlock()
		for _, m := range batch {
			_ = m.InProgress()
		}
	}
}

func (r *Runner) setError(err error) {
	s := err.Error()
	r.lastError.Store(&s)
}

func (r *Runner) watchLag(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		if pending, ackPending, err := r.cfg.Consumer.Lag(ctx); err == nil {
			r.cfg.Metrics.ConsumerLag.WithLabelValues(r.cfg.Name).Set(float64(pending))
			r.cfg.Metrics.AckPending.WithLabelValues(r.cfg.Name).Set(float64(ackPending))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
