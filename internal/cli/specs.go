package cli

import (
	"context"
	"log/slog"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/config"
	"github.com/statsig-bridge/statsig-bridge/internal/specsapi"
)

// Specs fetch timings: one request, and the first fetch at start, which
// the bridge does not wait on longer (experiments resolve once specs come).
const (
	specsRequestTimeout = 30 * time.Second
	specsFirstFetchWait = 10 * time.Second
)

// startSpecs builds the config specs watcher from cfg.Specs and fetches
// the specs once, or returns nil when no server secret is configured.
// What a failed first fetch means for the caller is said in consequence.
// serve then runs the watcher to refresh every cfg.Specs.Refresh.
func startSpecs(ctx context.Context, cfg *config.Config, logger *slog.Logger, consequence string) *specsapi.Watcher {
	if cfg.Specs.ServerSecret == "" {
		return nil
	}
	w := &specsapi.Watcher{
		Client:   specsapi.NewClient(specsapi.Config{Base: cfg.Specs.API, Secret: cfg.Specs.ServerSecret, Timeout: specsRequestTimeout}),
		Interval: cfg.Specs.Refresh,
		Logger:   logger,
	}
	fctx, cancel := context.WithTimeout(ctx, specsFirstFetchWait)
	defer cancel()
	if err := w.Refresh(fctx); err != nil {
		logger.Warn("fetching Statsig config specs failed; "+consequence, "err", err)
	}
	return w
}
