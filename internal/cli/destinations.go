package cli

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/statsig-bridge/statsig-bridge/internal/config"
	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/destination/segmentapi"
	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
	"github.com/statsig-bridge/statsig-bridge/internal/queue"
	"github.com/statsig-bridge/statsig-bridge/internal/segment"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// writerFactories is the closed set of destination types.
var writerFactories = map[string]func(d config.Destination) (destination.Writer, error){
	"segment": func(d config.Destination) (destination.Writer, error) {
		return segmentapi.New(segmentapi.Config{
			Endpoint:  d.Segment.Endpoint,
			WriteKey:  d.Segment.WriteKey,
			Gzip:      d.Segment.Gzip,
			Timeout:   d.Segment.Timeout,
			UserAgent: "statsig-bridge/" + version(),
		}), nil
	},
}

func library() mapping.Library { return mapping.Library{Name: "statsig-bridge", Version: version()} }

func specsFunc(w *statsig.SpecsWatcher) func() *statsig.Specs {
	if w == nil {
		return nil
	}
	return w.Current
}

// newEncoder builds a destination's mapping step.
func newEncoder(d config.Destination, specs func() *statsig.Specs) destination.Encoder {
	return destination.TrackEncoder{Mapper: mapping.New(d.Mapping, specs, library()), MaxItemBytes: segment.MaxMessageBytes}
}

func buildDestinations(ctx context.Context, cfg *config.Config, log *queue.Log, reg prometheus.Registerer, specs *statsig.SpecsWatcher, logger *slog.Logger) ([]*destination.Runner, error) {
	metrics := destination.NewMetrics(reg)
	var runners []*destination.Runner
	for _, d := range cfg.Destinations {
		factory, ok := writerFactories[d.Type]
		if !ok {
			return nil, fmt.Errorf("destination %s: unknown type %q", d.Name, d.Type)
		}
		w, err := factory(d)
		if err != nil {
			return nil, fmt.Errorf("destination %s: %w", d.Name, err)
		}
		consumer, err := log.Consumer(ctx, d.Name, queue.ConsumerOptions{AckWait: cfg.Log.AckWait, MaxAckPending: 1024})
		if err != nil {
			return nil, fmt.Errorf("destination %s: %w", d.Name, err)
		}
		runners = append(runners, destination.NewRunner(destination.Config{
			Name:              d.Name,
			Writer:            w,
			Encoder:           newEncoder(d, specsFunc(specs)),
			Consumer:          consumer,
			Log:               log,
			Metrics:           metrics,
			Logger:            logger,
			Concurrency:       d.Delivery.Concurrency,
			Parallelism:       d.Delivery.Parallelism,
			FlushInterval:     d.Delivery.FlushInterval,
			MaxBatchItems:     d.Delivery.MaxBatchEvents,
			RequestsPerSecond: d.Delivery.RequestsPerSecond,
			Retry:             d.Delivery.Retry,
			AckWait:           cfg.Log.AckWait,
			// Leave room within the shutdown timeout for the HTTP drain
			// before and closing the log after.
			DrainTimeout: cfg.ShutdownTimeout * 4 / 10,
		}))
	}
	return runners, nil
}

// pruneStaleDestinations deals with log positions of destinations that are
// no longer configured: they hold back trimming, so the log would fill.
func pruneStaleDestinations(ctx context.Context, cfg *config.Config, log *queue.Log, logger *slog.Logger) {
	known, err := log.Destinations(ctx)
	if err != nil {
		logger.Warn("listing the log's destinations", "err", err)
		return
	}
	for _, name := range known {
		if slices.ContainsFunc(cfg.Destinations, func(d config.Destination) bool { return d.Name == name }) {
			continue
		}
		if !cfg.Log.RemoveStaleDestinations {
			logger.Warn("the log keeps a position for a destination that is not configured: it holds every later batch, so the log will fill and intake answer 503; configure it again, or set log.remove_stale_destinations: true to drop its position",
				"destination", name)
			continue
		}
		if err := log.RemoveDestination(ctx, name); err != nil {
			logger.Warn("removing a stale destination's position", "destination", name, "err", err)
			continue
		}
		logger.Info("removed the log position of a destination no longer configured", "destination", name)
	}
}
