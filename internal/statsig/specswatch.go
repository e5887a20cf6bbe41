package statsig

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// SpecsWatcher keeps the project's config specs fresh: it fetches them at
// start and then every Interval (with sinceTime, so an unchanged project
// costs a tiny answer), keeping the last good specs when a fetch fails.
type SpecsWatcher struct {
	Client   *SpecsClient
	Interval time.Duration
	Logger   *slog.Logger

	current atomic.Pointer[Specs]
	lastErr atomic.Pointer[string]
}

// Current returns the latest specs, or nil before the first success.
func (w *SpecsWatcher) Current() *Specs { return w.current.Load() }

// LastError returns the last fetch error, or "".
func (w *SpecsWatcher) LastError() string {
	if p := w.lastErr.Load(); p != nil {
		return *p
	}
	return ""
}

// Refresh fetches once.
func (w *SpecsWatcher) Refresh(ctx context.Context) error {
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
func (w *SpecsWatcher) Run(ctx context.Context) {
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
		wait := interval
		if err != nil && w.Current() == nil {
			wait = min(interval, 5*time.Second)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
