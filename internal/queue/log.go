package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	// closeAckWait bounds how long Close waits for Store calls still
	// waiting for their ack before draining; callers should have stopped
	// publishing already.
	closeAckWait = 5 * time.Second
	// drainTimeout bounds nats.Conn.Drain inside Close.
	drainTimeout = 10 * time.Second
)

// Log is the durable log: the events stream, the dead-letter stream and the
// NATS connection (plus, when embedded, the server) behind them. It is safe
// for concurrent use.
type Log struct {
	cfg    Config
	logger *slog.Logger

	ns       *server.Server // nil when connected to an external NATS
	lock     *os.File       // the embedded data dir's lock, nil otherwise
	nc       *nats.Conn
	js       jetstream.JetStream
	stream   jetstream.Stream
	dlStream jetstream.Stream

	connClosed chan struct{} // closed by the connection's ClosedHandler

	// storing counts Store calls waiting for the store's answer (Close
	// waits for them, not for publishes nobody waits for any more).
	storing inflight

	// versions (external only) holds the verdict on the NATS servers'
	// versions (see MinServerVersion), checked again by a goroutine that
	// stopVersions ends and versionsDone says has ended.
	versions     *versionGuard
	stopVersions context.CancelFunc
	versionsDone chan struct{}

	// guard (embedded only) refuses writes while the store cannot write to
	// its disk and recovers it; stopGuard ends its goroutine, guardDone
	// says it has ended.
	guard     *storeGuard
	stopGuard context.CancelFunc
	guardDone chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Open connects to JetStream (starting the embedded server when cfg.URL is
// empty) and creates or updates both streams. Reopening the same data dir or
// cluster finds every stored batch and every consumer's position, which is
// how the bridge recovers from a crash.
func Open(ctx context.Context, cfg Config, logger *slog.Logger) (*Log, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("validating queue config: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := &Log{cfg: cfg, logger: logger, connClosed: make(chan struct{})}
	if err := l.connect(); err != nil {
		_ = l.Close()
		return nil, err
	}
	if err := l.ensureStreams(ctx); err != nil {
		_ = l.Close()
		return nil, err
	}
	if l.ns != nil {
		l.startGuard()
	}
	if maxPayload := l.nc.MaxPayload(); maxPayload < int64(cfg.MaxMsgSize)+headerAllowance {
		logger.Warn("NATS max_payload is below queue max_msg_size: larger batches will be rejected as too large",
			"max_payload", maxPayload, "max_msg_size", cfg.MaxMsgSize)
	}
	return l, nil
}

// connect starts the embedded server if needed and dials it or the cluster.
func (l *Log) connect() error {
	opts := []nats.Option{
		nats.Name("statsig-bridge"),
		nats.MaxReconnects(-1), // the log is the bridge's backbone: never give up on it
		nats.ReconnectWait(time.Second),
		nats.DrainTimeout(drainTimeout),
		nats.ClosedHandler(func(*nats.Conn) { close(l.connClosed) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				l.logger.Warn("disconnected from NATS", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			l.logger.Info("reconnected to NATS", "url", nc.ConnectedUrlRedacted(), "version", nc.ConnectedServerVersion())
			l.pokeVersions()
		}),
		// A server that joins the cluster later is checked as it is announced.
		nats.DiscoveredServersHandler(func(*nats.Conn) { l.pokeVersions() }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			l.logger.Warn("NATS async error", "err", err)
		}),
	}
	url := l.cfg.URL
	if url == "" {
		lock, err := lockDataDir(l.cfg.DataDir)
		if err != nil {
			return err
		}
		l.lock = lock
		ns, err := startEmbedded(l.cfg, l.logger)
		if err != nil {
			return err
		}
		l.ns = ns
		opts = append(opts, nats.InProcessServer(ns))
	}
	if url != "" {
		l.versions = newVersionGuard(userInfoOf(url), l.logger)
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return fmt.Errorf("connecting to NATS: %w", err)
	}
	l.nc = nc
	if l.versions != nil {
		if err := l.versions.checkAll(nc); err != nil {
			return fmt.Errorf("connecting to NATS: %w", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		l.stopVersions, l.versionsDone = cancel, make(chan struct{})
		go func() {
			defer close(l.versionsDone)
			l.versions.run(ctx, nc)
		}()
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(defaultPublishAckTimeout))
	if err != nil {
		return fmt.Errorf("creating JetStream context: %w", err)
	}
	l.js = js
	return nil
}

// pokeVersions has the version guard (external log only) check the
// servers again soon.
func (l *Log) pokeVersions() {
	if l.versions != nil {
		l.versions.poke()
	}
}

// Warnings are conditions the operator must fix that do not stop intake:
// a NATS server of the log older than MinServerVersion (the log is then
// not trimmed). /readyz shows them.
func (l *Log) Warnings() []string {
	if l.versions != nil {
		if err := l.versions.verdict(); err != nil {
			return []string{err.Error()}
		}
	}
	return nil
}

// startGuard runs the store guard until Close.
func (l *Log) startGuard() {
	l.guard = newStoreGuard(l.ns, l.cfg, l.logger, l.Trim, func(ctx context.Context) error {
		_, err := l.stream.Info(ctx)
		return err
	})
	ctx, cancel := context.WithCancel(context.Background())
	l.stopGuard, l.guardDone = cancel, make(chan struct{})
	go func() {
		defer close(l.guardDone)
		l.guard.run(ctx)
	}()
}

// ensureStreams creates or updates both streams so that several bridge
// processes starting together, or a restart with changed limits, converge on
// the same configuration.
func (l *Log) ensureStreams(ctx context.Context) error {
	cfg := l.cfg
	events := jetstream.StreamConfig{
		Name:        cfg.Stream,
		Description: "statsig-bridge: accepted Statsig event batches, one per SDK request",
		Subjects:    []string{cfg.Subject},
		Retention:   jetstream.LimitsPolicy, // Trim removes what every destination acked
		Discard:     jetstream.DiscardNew,   // full means 503 to the SDK, never dropping unfinished events
		MaxBytes:    cfg.MaxBytes,
		MaxMsgSize:  cfg.MaxMsgSize + headerAllowance,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		Duplicates:  duplicateWindow,
	}
	s, err := l.js.CreateOrUpdateStream(ctx, events)
	if err != nil {
		return fmt.Errorf("creating stream %s: %w", cfg.Stream, err)
	}
	l.stream = s
	deadLetters := jetstream.StreamConfig{
		Name:        cfg.DeadLetterStream,
		Description: "statsig-bridge: events a destination rejected for good, per destination subject",
		Subjects:    []string{cfg.DeadLetterSubject + ".>"},
		Retention:   jetstream.LimitsPolicy,
		// DiscardNew as well: when full, DeadLetter fails and the event stays
		// unacked in the events stream instead of an older dead letter
		// silently disappearing.
		Discard:    jetstream.DiscardNew,
		MaxBytes:   cfg.DeadLetterMaxBytes,
		MaxAge:     cfg.DeadLetterMaxAge,
		MaxMsgSize: cfg.MaxMsgSize + headerAllowance,
		Storage:    jetstream.FileStorage,
		Replicas:   cfg.Replicas,
		Duplicates: duplicateWindow,
	}
	dl, err := l.js.CreateOrUpdateStream(ctx, deadLetters)
	if err != nil {
		return fmt.Errorf("creating stream %s: %w", cfg.DeadLetterStream, err)
	}
	l.dlStream = dl
	return l.ensureStatsStream(ctx)
}

// Publish stores one SDK request's batch and returns its stream sequence
// once JetStream has acked the write; only then may intake answer 2xx.
// msgID (the request's idempotency key) lets JetStream drop an SDK retry of
// the same request within the duplicate window; a duplicate returns the
// original's sequence.
//
// The publish is asynchronous underneath so that hundreds of concurrent
// requests share socket flushes instead of each paying a round trip alone.
// A full stream yields ErrFull, an oversized batch ErrTooLarge.
//
// Publish keeps a reference to data: the client may resend it after Publish
// returned on ctx's end, so the caller must not reuse the buffer.
func (l *Log) Publish(ctx context.Context, data []byte, msgID string) (uint64, error) {
	st, err := l.Store(ctx, data, msgID)
	return st.Seq, err
}

// Stored is where a batch is in the log.
type Stored struct {
	// Seq is the batch's stream sequence.
	Seq uint64
	// Duplicate says the log held this msgID already (the same request
	// within the duplicate window, 2 minutes): nothing new was stored, and
	// Seq is the original's.
	Duplicate bool
}

// Store is Publish telling a stored batch from a duplicate of one.
func (l *Log) Store(ctx context.Context, data []byte, msgID string) (Stored, error) {
	if err := ctx.Err(); err != nil {
		return Stored{}, fmt.Errorf("publishing batch: %w", err)
	}
	if len(data) > int(l.cfg.MaxMsgSize) {
		return Stored{}, fmt.Errorf("publishing batch of %d bytes (limit %d): %w", len(data), l.cfg.MaxMsgSize, ErrTooLarge)
	}
	// While the connection is down the client would buffer the batch and
	// the caller would wait out its whole deadline for an ack that comes,
	// at best, after the reconnect: fail now, so intake answers 503 at
	// once and the SDK retries (the same msgID, so a batch that did get
	// through is deduplicated).
	if status := l.nc.Status(); status != nats.CONNECTED {
		return Stored{}, fmt.Errorf("publishing batch: the NATS connection is %s: %w", strings.ToLower(status.String()), ErrUnavailable)
	}
	var refused <-chan struct{} // stays nil (never ready) when there is no guard
	if l.guard != nil {
		refused = l.guard.refused()
		if err := l.guard.err(); err != nil {
			return Stored{}, fmt.Errorf("publishing batch: %w", err)
		}
	}
	l.storing.enter()
	defer l.storing.leave()
	opts := []jetstream.PublishOpt{
		jetstream.WithExpectStream(l.cfg.Stream),
		jetstream.WithStallWait(stallWait(ctx)),
	}
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	future, err := l.js.PublishMsgAsync(compressBatch(l.cfg.Subject, data), opts...)
	if err != nil {
		l.checkStore(err)
		return Stored{}, fmt.Errorf("publishing batch: %w", classify(err))
	}
	select {
	case ack := <-future.Ok():
		return Stored{Seq: ack.Sequence, Duplicate: ack.Duplicate}, nil
	case err := <-future.Err():
		l.checkStore(err)
		return Stored{}, fmt.Errorf("storing batch: %w", classify(err))
	case <-refused:
		// The store failed to write, and then does not answer. Had this
		// batch been stored after all, the SDK's retry (same msgID) is
		// deduplicated.
		return Stored{}, fmt.Errorf("storing batch: %w", l.guard.errOr(ErrUnavailable))
	case <-ctx.Done():
		// An embedded store that failed to write, or is stuck, does not
		// answer at all: a deadline (not a caller that went away) has the
		// guard probe it.
		if l.guard != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			l.guard.noteUnanswered()
		}
		// The batch may still be stored; the SDK's retry with the same
		// msgID is then deduplicated.
		return Stored{}, fmt.Errorf("waiting for store ack: %w", ctx.Err())
	}
}

// checkStore has the store guard look at the store now: a write failed
// with err.
func (l *Log) checkStore(err error) {
	if l.guard != nil {
		l.guard.noteError(err)
		l.guard.wake()
	}
}

// stallWait is how long PublishMsgAsync may block for a free in-flight
// slot: the caller's remaining time, so back-pressure surfaces as the
// caller's own deadline rather than an arbitrary library default.
func stallWait(ctx context.Context) time.Duration {
	deadline, ok := ctx.Deadline()
	if !ok {
		return defaultStallWait
	}
	return max(time.Until(deadline), time.Millisecond)
}

// Ready reports whether the log can take writes right now, for /readyz: the
// connection is up and the events stream answers.
func (l *Log) Ready(ctx context.Context) error {
	if status := l.nc.Status(); status != nats.CONNECTED {
		return fmt.Errorf("checking NATS connection: %s", status)
	}
	if l.guard != nil {
		if err := l.guard.err(); err != nil {
			return fmt.Errorf("checking the embedded store: %w", err)
		}
	}
	if _, err := l.stream.Info(ctx); err != nil {
		return fmt.Errorf("checking stream %s: %w", l.cfg.Stream, err)
	}
	return nil
}

// Embedded reports whether the log runs on an in-process nats-server.
func (l *Log) Embedded() bool { return l.ns != nil }

// Close waits briefly for Store calls still waiting for their ack (not for
// publishes whose Store call already returned, such as one a full disk
// left unanswered), drains the connection and,
// when embedded, shuts the server down (flushing its store). Stop intake and
// consumers first. Close is idempotent.
func (l *Log) Close() error {
	l.closeOnce.Do(func() { l.closeErr = l.close() })
	return l.closeErr
}

func (l *Log) close() error {
	var errs []error
	if l.stopVersions != nil {
		l.stopVersions()
		<-l.versionsDone
	}
	if l.stopGuard != nil {
		l.stopGuard()
		<-l.guardDone
	}
	if n := l.storing.wait(closeAckWait); n > 0 {
		errs = append(errs, fmt.Errorf("closing log: %d batches still waiting for the store's ack after %s", n, closeAckWait))
	}
	if l.nc != nil {
		if err := l.nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			errs = append(errs, fmt.Errorf("draining NATS connection: %w", err))
			l.nc.Close()
		}
		select {
		case <-l.connClosed:
		case <-time.After(drainTimeout + time.Second):
			l.nc.Close()
		}
	}
	if l.ns != nil {
		l.ns.Shutdown()
		l.ns.WaitForShutdown()
	}
	if l.lock != nil {
		l.lock.Close() // releases the flock
	}
	return errors.Join(errs...)
}
