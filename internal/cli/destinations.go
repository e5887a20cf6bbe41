package cli

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/statsig-bridge/statsig-bridge/internal/config"
	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/destination/segmentapi"
	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
	"github.com/statsig-bridge/statsig-bridge/internal/queue"
	"github.com/statsig-bridge/statsig-bridge/internal/segment"
	"github.com/statsig-bridge/statsig-bridge/internal/specsapi"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// factory builds a destination type's two halves: how an event becomes an
// item (the mapping, which preview and validate use alone), and where items
// go (the writer, which may connect to something).
type factory struct {
	Encoder func(env buildEnv, d config.Destination) (destination.Encoder, error)
	// Writer returns the writer and what releases its resources (or nil).
	Writer func(env buildEnv, d config.Destination) (destination.Writer, func() error, error)
}

// buildEnv is what a destination factory may use.
type buildEnv struct {
	Cfg    *config.Config
	Specs  func() *statsig.Specs
	Logger *slog.Logger
}

// factories is the closed set of destination types.
var factories = map[string]factory{
	"segment":   {Encoder: trackEncoder, Writer: segmentWriter},
	"webhook":   {Encoder: webhookEncoder, Writer: webhookWriter},
	"statsig":   {Encoder: teeEncoder, Writer: teeWriter},
	"warehouse": {Encoder: warehouseEncoder, Writer: warehouseWriter},
}

func segmentWriter(_ buildEnv, d config.Destination) (destination.Writer, func() error, error) {
	return segmentapi.New(segmentapi.Config{
		Endpoint:  d.Segment.Endpoint,
		WriteKey:  d.Segment.WriteKey,
		Gzip:      d.Segment.Gzip,
		Timeout:   d.Segment.Timeout,
		UserAgent: "statsig-bridge/" + version(),
	}), nil, nil
}

func factoryFor(d config.Destination) (factory, error) {
	f, ok := factories[d.Type]
	if !ok {
		return factory{}, fmt.Errorf("destination %s: unknown type %q", d.Name, d.Type)
	}
	return f, nil
}

// buildEncoder builds one destination's mapping step.
func buildEncoder(env buildEnv, d config.Destination) (destination.Encoder, error) {
	f, err := factoryFor(d)
	if err != nil {
		return nil, err
	}
	enc, err := f.Encoder(env, d)
	if err != nil {
		return nil, fmt.Errorf("destination %s: %w", d.Name, err)
	}
	return enc, nil
}

func library() mapping.Library { return mapping.Library{Name: "statsig-bridge", Version: version()} }

func specsFunc(w *specsapi.Watcher) func() *statsig.Specs {
	if w == nil {
		return nil
	}
	return w.Current
}

// trackEncoder is the mapping step of a destination that receives Segment
// Track messages.
func trackEncoder(env buildEnv, d config.Destination) (destination.Encoder, error) {
	return destination.TrackEncoder{Mapper: mapping.New(d.Mapping, env.Specs, library()), MaxItemBytes: segment.MaxMessageBytes}, nil
}

// buildDestinations builds a Runner per destination, ordered by prio for
// the CPU. The returned closers release the writers' resources once the
// runners have stopped.
func buildDestinations(ctx context.Context, cfg *config.Config, log *queue.Log, reg prometheus.Registerer, specs *specsapi.Watcher, logger *slog.Logger, prio *destination.Priority) ([]*destination.Runner, []func() error, error) {
	metrics := destination.NewMetrics(reg)
	env := buildEnv{Cfg: cfg, Specs: specsFunc(specs), Logger: logger}
	var (
		runners []*destination.Runner
		closers []func() error
	)
	fail := func(err error) ([]*destination.Runner, []func() error, error) {
		for _, c := range closers {
			_ = c()
		}
		return nil, nil, err
	}
	for _, d := range cfg.Destinations {
		enc, err := buildEncoder(env, d)
		if err != nil {
			return fail(err)
		}
		f, _ := factoryFor(d)
		w, closeWriter, err := f.Writer(env, d)
		if err != nil {
			return fail(fmt.Errorf("destination %s: %w", d.Name, err))
		}
		if closeWriter != nil {
			closers = append(closers, closeWriter)
		}
		consumer, err := log.Consumer(ctx, d.Name, queue.ConsumerOptions{AckWait: cfg.Log.AckWait, MaxAckPending: 1024})
		if err != nil {
			return fail(fmt.Errorf("destination %s: %w", d.Name, err))
		}
		dedupe, identities, err := destinationState(ctx, log, d)
		if err != nil {
			return fail(err)
		}
		var maxLag time.Duration
		if d.Warehouse != nil && d.Warehouse.MaxLag != nil {
			maxLag = d.Warehouse.MaxLag.Duration()
		}
		runners = append(runners, destination.NewRunner(destination.Config{
			Priority:   prio,
			Streaming:  d.Type != "warehouse",
			MaxLag:     maxLag,
			Dedupe:     dedupe,
			Identities: identities,
			Name:       d.Name,
			Writer:     w,
			Encoder:    enc,
			Consumer:   consumer,
			Log:        log,
			Metrics:    metrics,
			Logger:     logger,
			Options:    d.Delivery,
			AckWait:    cfg.Log.AckWait,
			// Leave room within the shutdown timeout for the HTTP drain
			// before and closing the log after.
			DrainTimeout: cfg.ShutdownTimeout * 4 / 10,
		}))
	}
	return runners, closers, nil
}

// destinationState opens the state in the log that a destination's
// dedupe_exposures and identify options keep (nil for an option off).
func destinationState(ctx context.Context, log *queue.Log, d config.Destination) (*destination.Dedupe, *destination.Identities, error) {
	var (
		dedupe     *destination.Dedupe
		identities *destination.Identities
	)
	if w := d.Mapping.DedupeExposures.Duration(); w > 0 {
		bucket, err := log.StateBucket(ctx, "DEDUPE", d.Name, w)
		if err != nil {
			return nil, nil, fmt.Errorf("destination %s: dedupe_exposures: %w", d.Name, err)
		}
		dedupe = destination.NewDedupe(bucket, w, 0)
	}
	if d.Mapping.Identify == mappingconfig.IdentifyOnChange {
		h := d.Mapping.IdentifyHorizon.Duration()
		bucket, err := log.StateBucket(ctx, "IDENT", d.Name, h)
		if err != nil {
			return nil, nil, fmt.Errorf("destination %s: identify: %w", d.Name, err)
		}
		identities = destination.NewIdentities(bucket, h, 0)
	}
	return dedupe, identities, nil
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
