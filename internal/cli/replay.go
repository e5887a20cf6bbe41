package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/statsig-bridge/statsig-bridge/internal/config"
	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/progress"
	"github.com/statsig-bridge/statsig-bridge/internal/queue"
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

// ReplayResult counts what a replay did (see destination.ReplayResult).
type ReplayResult = destination.ReplayResult

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

	specs := startSpecs(ctx, cfg, logger, "experiments are mapped as config exposures")
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
	// A replay decides on exposures and identifies as the live delivery
	// does: a first exposure replayed finds its own messageId in the
	// dedupe state and goes again, a duplicate stays out.
	dedupe, identities, err := destinationState(ctx, log, *d)
	if err != nil {
		return destination.ReplayResult{}, err
	}
	rcfg := destination.Config{
		Dedupe:       dedupe,
		Identities:   identities,
		Name:         d.Name,
		Writer:       w,
		Encoder:      enc,
		Log:          log,
		Metrics:      destination.NewMetrics(prometheus.NewRegistry()),
		Logger:       logger,
		Options:      d.Delivery,
		AckWait:      cfg.Log.AckWait,
		DrainTimeout: 2 * time.Second, // on Ctrl-C: what is unsettled is simply not replayed
	}
	display := &progress.Display{W: opts.Progress, Prefix: "replay", Terminal: opts.Terminal, Interval: opts.ProgressInterval}
	if opts.DeadLetters {
		return destination.ReplayDeadLetters(ctx, log, rcfg, display)
	}
	return destination.ReplayLog(ctx, log, rcfg, opts.Since, opts.Until, display)
}
