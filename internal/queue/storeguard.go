package queue

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// The embedded store and a full disk.
//
// When a write to its file store fails (ENOSPC, EIO), nats-server marks the
// store failed for good: it does not answer the publish (the client waits
// out its whole deadline), and it refuses every later write and every purge
// with the same error, even after space returns, until the stream is loaded
// again. A purge can itself need space (it rewrites the head of a partly
// purged block), so a log that filled its own disk fails that way too. A
// bridge left alone would answer every SDK only after its store timeout,
// could not trim what destinations have delivered, and would not recover
// without a restart.
//
// storeGuard watches for that and recovers. While the store has failed a
// write, or less than storeMinFree is left on the data dir's disk, Publish
// fails at once with ErrDiskFull (ErrUnavailable for other write errors),
// so intake answers 503 with Retry-After instead of holding SDKs. A failed
// store is restarted: JetStream is stopped and started again inside the
// same server, which loads every stream and consumer from disk without the
// failure (each acknowledged batch was written before its ack, so all are
// still there). Reads and acks go on working, so destinations go on
// delivering, and the guard trims what they finished every storeTrimEvery.
// Batches are accepted again once storeResumeFree is free and the store
// answers the bridge's own connection (probe): a restart that left
// JetStream not answering (reported under load: acks, purges and stream
// info all timing out after a restart on a full disk) must not be taken
// for recovery, or every SDK waits out the store timeout for a 503; the
// guard keeps answering 503 at once, says why, and restarts again. A
// publish left unanswered past its deadline while writes are accepted has
// the guard probe the store the same way.
type storeGuard struct {
	ns     *server.Server
	dir    string
	logger *slog.Logger
	js     server.JetStreamConfig // to enable JetStream again as it was
	// trim purges what every destination has finished (Log.Trim).
	trim func(context.Context) (uint64, error)
	// probe asks the store for the events stream's state over the bridge's
	// connection: nil when it answers.
	probe func(context.Context) error

	fault atomic.Pointer[error] // non-nil while writes are refused
	// refusing is closed when writes start being refused, so that
	// publishes already waiting for an answer the store will never give
	// end at once; a new one replaces it when writes are accepted again.
	refusing atomic.Pointer[chan struct{}]
	// failed is a write error seen in an answer (a purge, a publish) that
	// nats-server's health report does not show.
	failed atomic.Pointer[string]
	// unanswered says a Store call's deadline passed without an answer
	// while writes were accepted: check probes the store.
	unanswered atomic.Bool
	kick       chan struct{}

	mu          sync.Mutex // serialises check
	lastRestart time.Time
	lastTrim    time.Time
}

const (
	// storeCheckEvery is how often the guard looks at the store and the
	// disk; a failed publish or purge makes it look at once.
	storeCheckEvery = time.Second
	// storeMinFree: below this much free space on the data dir's disk, new
	// batches are refused before a write can fail. It leaves room for what
	// trimming itself writes (the rewrite of a partly purged 8 MiB block
	// is at most half of it) and for the index and consumer state.
	storeMinFree = 8 << 20
	// storeResumeFree is the free space needed to accept batches again,
	// above storeMinFree so that a few batches do not flip the state.
	storeResumeFree = 16 << 20
	// storeRestartEvery bounds restarts of JetStream while writes fail.
	storeRestartEvery = 5 * time.Second
	// storeTrimEvery is how often the log is trimmed while writes are
	// refused (instead of the trimmer's usual interval): when the log
	// itself filled the disk, what destinations deliver meanwhile is what
	// makes room.
	storeTrimEvery = 2 * time.Second
	// storeProbeTimeout bounds the probe before writes are accepted again;
	// a store that answers does so in milliseconds.
	storeProbeTimeout = 3 * time.Second
)

func newStoreGuard(ns *server.Server, cfg Config, logger *slog.Logger, trim func(context.Context) (uint64, error),
	probe func(context.Context) error) *storeGuard {
	g := &storeGuard{ns: ns, dir: cfg.DataDir, logger: logger, trim: trim, probe: probe, kick: make(chan struct{}, 1)}
	if c := ns.JetStreamConfig(); c != nil {
		g.js = *c
	}
	// EnableJetStream appends "jetstream" to StoreDir itself.
	g.js.StoreDir = cfg.DataDir
	ch := make(chan struct{})
	g.refusing.Store(&ch)
	return g
}

// err is the reason writes are refused, nil while they are accepted.
func (g *storeGuard) err() error {
	if p := g.fault.Load(); p != nil {
		return *p
	}
	return nil
}

// errOr is err, or def when writes were accepted again meanwhile.
func (g *storeGuard) errOr(def error) error {
	if err := g.err(); err != nil {
		return err
	}
	return def
}

// refused is closed once writes are refused (see err).
func (g *storeGuard) refused() <-chan struct{} { return *g.refusing.Load() }

// wake makes run check now (a publish failed or timed out).
func (g *storeGuard) wake() {
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

// noteError reports an error from the store; one that says the disk is
// full means the store has failed, whether or not its health says so.
func (g *storeGuard) noteError(err error) {
	if err == nil || !isNoSpace(err) {
		return
	}
	s := err.Error()
	g.failed.Store(&s)
	g.wake()
}

// isNoSpace reports an ENOSPC, also when it arrives as the text of a
// JetStream API error.
func isNoSpace(err error) bool {
	return strings.Contains(err.Error(), syscall.ENOSPC.Error())
}

// run checks the store every storeCheckEvery, and when woken, until ctx
// ends.
func (g *storeGuard) run(ctx context.Context) {
	t := time.NewTicker(storeCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-g.kick:
		}
		g.check(ctx)
	}
}

// check sets, keeps or clears the fault, restarts JetStream when its store
// has failed, and trims while writes are refused.
func (g *storeGuard) check(ctx context.Context) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if werr := g.writeError(); werr != "" {
		g.refuse(werr)
		if time.Since(g.lastRestart) >= storeRestartEvery {
			g.lastRestart = time.Now()
			g.failed.Store(nil)
			g.restart()
		}
		return
	}
	if g.unanswered.Swap(false) && g.fault.Load() == nil {
		if err := g.answers(ctx); err != nil {
			if ctx.Err() == nil {
				g.stuck(err)
			}
			return
		}
	}
	free, known := freeBytes(g.dir)
	switch {
	case known && free < storeMinFree:
		g.refuse(fmt.Sprintf("%d bytes left on the disk of %s", free, g.dir))
	case g.fault.Load() != nil && (!known || free >= storeResumeFree):
		if err := g.answers(ctx); err != nil {
			if ctx.Err() == nil {
				g.stuck(err)
			}
			return
		}
		ch := make(chan struct{})
		g.refusing.Store(&ch)
		g.fault.Store(nil)
		g.logger.Info("the embedded log writes to its disk again: intake accepts events", "dir", g.dir)
		return
	}
	if g.fault.Load() != nil {
		g.trimWhileRefusing(ctx)
	}
}

// stuck refuses writes because the store did not answer the probe (err),
// and has the next check restart it.
func (g *storeGuard) stuck(err error) {
	reason := fmt.Sprintf("the embedded store does not answer (%v)", err)
	g.logger.Warn("the embedded store does not answer: intake answers 503 until it does; restarting it",
		"dir", g.dir, "err", err)
	g.failed.Store(&reason)
	g.refuse(reason)
	g.wake()
}

// noteUnanswered reports a Store call whose deadline passed without an
// answer from the store.
func (g *storeGuard) noteUnanswered() {
	g.unanswered.Store(true)
	g.wake()
}

// answers probes the store (nil without a probe).
func (g *storeGuard) answers(ctx context.Context) error {
	if g.probe == nil {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, storeProbeTimeout)
	defer cancel()
	return g.probe(pctx)
}

// refuse makes Publish fail with reason until check clears it.
func (g *storeGuard) refuse(reason string) {
	sentinel := ErrUnavailable
	if strings.Contains(reason, syscall.ENOSPC.Error()) || strings.Contains(reason, "bytes left on the disk") {
		sentinel = ErrDiskFull
	}
	err := fmt.Errorf("%w (%s)", sentinel, reason)
	if g.fault.Swap(&err) == nil {
		close(*g.refusing.Load())
		g.logger.Error("the embedded log cannot write to its disk: intake answers 503 until it can; "+
			"destinations go on delivering what the log holds", "dir", g.dir, "err", err)
	}
}

// writeError is the store's failure ("" when there is none): a stream's
// sticky write error as nats-server reports it, a disk-full error seen in
// an answer, or JetStream turned off (nats-server does that itself on
// some write errors).
func (g *storeGuard) writeError() string {
	if !g.ns.JetStreamEnabled() {
		return "JetStream is disabled"
	}
	if h := g.ns.Healthz(&server.HealthzOptions{Details: true}); h != nil {
		for _, e := range h.Errors {
			if strings.Contains(e.Error, "write error") {
				return e.Error
			}
		}
	}
	if p := g.failed.Load(); p != nil {
		return *p
	}
	return ""
}

// restart stops and starts JetStream in the server: the streams are loaded
// again from disk, without the failure. The bridge's connection, its stream
// and consumer handles go on working (they address JetStream by name).
// Stopping may fail to write the streams' index files on a full disk; the
// start then rebuilds them from the message blocks.
func (g *storeGuard) restart() {
	if g.ns.JetStreamEnabled() {
		if err := g.ns.ShutdownJetStream(); err != nil {
			g.logger.Warn("stopping embedded JetStream to recover from a write error", "err", err)
			return
		}
	}
	cfg := g.js
	if err := g.ns.EnableJetStream(&cfg); err != nil && !strings.Contains(err.Error(), "already enabled") {
		g.logger.Warn("starting embedded JetStream again after a write error; retrying", "err", err,
			"in", storeRestartEvery)
		return
	}
	g.logger.Info("embedded JetStream restarted after a write error", "dir", g.dir)
}

// trimWhileRefusing trims the log every storeTrimEvery.
func (g *storeGuard) trimWhileRefusing(ctx context.Context) {
	if g.trim == nil || time.Since(g.lastTrim) < storeTrimEvery {
		return
	}
	g.lastTrim = time.Now()
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	n, err := g.trim(tctx)
	switch {
	case err != nil && ctx.Err() == nil:
		g.logger.Warn("trimming the log to make room on a full disk", "err", err)
		g.noteError(err)
	case n > 0:
		g.logger.Info("trimmed delivered batches to make room on a full disk", "purged", n)
	}
}
