package specsapi

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/httpsend"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// Watcher keeps the project's config specs fresh: it fetches them at
// start and then every Interval (with sinceTime, so an unchanged project
// costs a tiny answer), keeping the last good specs when a fetch fails.
type Watcher struct {
	Client   *Client
	Interval time.Duration
	Logger   *slog.Logger

	current atomic.Pointer[statsig.Specs]
	lastErr atomic.Pointer[string]
}

// Current returns the latest specs, or nil before the first success.
func (w *Watcher) Current() *statsig.Specs { return w.current.Load() }

// LastError returns the last fetch error, or "".
func (w *Watcher) LastError() string {
	if p := w.lastErr.Load(); p != nil {
		return *p
	}
	return ""
}

// Refresh fetches once.
func (w *Watcher) Refresh(ctx context.Context) error {
	var since int64
	if cur := w.current.Load(); cur != nil {
		since = cur.Time
	}
	specs, err := w.Client.Fetch(ctx, since)
	if err != nil {
		s := err.Error()
		w.lastErr.Store(&s)
		return err
	}
	w.lastErr.Store(nil)
	if specs != nil {
		w.current.Store(specs)
	}
	return nil
}

// Run refreshes until ctx is done.
func (w *Watcher) Run(ctx context.Context) {
	interval := w.Interval
	if interval <= 0 {
		interval = time.Minute
	}
	logger := w.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if w.Current() != nil { // fetched at start already
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
	for {
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := w.Refresh(fctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			logger.Warn("refreshing Statsig config specs failed; keeping the last good ones", "err", err)
		}
		wait := retryWait(err, interval, w.Current() != nil)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// maxBackOff bounds the wait a Retry-After may impose on the watcher: the
// specs go stale meanwhile, and Statsig asks for seconds.
const maxBackOff = time.Hour

// retryWait is the wait before the next fetch: the interval after a
// success, a refused secret or URL (Answers' pauses and refusals); after a
// transient failure 5 s while there are no specs yet (experiments wait for
// them), but never sooner than the answer's Retry-After.
func retryWait(err error, interval time.Duration, haveSpecs bool) time.Duration {
	if err == nil {
		return interval
	}
	var se *httpsend.StatusError
	if errors.As(err, &se) && (se.Outcome == httpsend.Pause || se.Outcome == httpsend.Refuse) {
		return interval
	}
	wait := interval
	if !haveSpecs {
		wait = min(interval, 5*time.Second)
	}
	if se != nil {
		wait = max(wait, min(se.Wait, maxBackOff))
	}
	return wait
}
