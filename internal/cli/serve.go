package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/statsig-bridge/statsig-bridge/internal/config"
	"github.com/statsig-bridge/statsig-bridge/internal/cpupressure"
	"github.com/statsig-bridge/statsig-bridge/internal/demo"
	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/queue"
	"github.com/statsig-bridge/statsig-bridge/internal/server"
)

func runServe(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("serve", env)
	path := fs.String("config", "", "YAML config `file` (default: environment variables)")
	demoMode := fs.Bool("demo", false, "feed the bridge realistic Statsig SDK traffic, with its own config specs and a demo Segment sink (see README \"Demo\")")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path, env)
	if err != nil {
		return err
	}
	logger := newLogger(env.Stderr, cfg.LogLevel)
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var ready Ready
	if *demoMode {
		d, demoReady, err := StartDemo(ctx, cfg, logger, demo.Options{}, nil)
		if err != nil {
			return err
		}
		defer d.Close()
		ready = demoReady
	}
	return Serve(ctx, cfg, logger, ready)
}

// Ready is called with the bound address once the bridge serves (tests).
type Ready func(addr net.Addr)

// Serve runs the bridge until ctx is cancelled, then shuts down in order:
// stop accepting requests and finish those in flight (their events are
// stored), let destinations deliver what they hold, close the log.
func Serve(ctx context.Context, cfg *config.Config, logger *slog.Logger, ready Ready) error {
	if len(cfg.Intake.APIKeys) == 0 {
		if !config.IsLoopback(cfg.Listen) {
			return fmt.Errorf("refusing to listen on %s with no STATSIG_API_KEYS: anyone could post events; set the keys, or listen on 127.0.0.1", cfg.Listen)
		}
		logger.Warn("no STATSIG_API_KEYS set: accepting any SDK key, because the bridge listens on loopback only", "listen", cfg.Listen)
	}
	defer applyMemoryLimit(cfg, logger)()
	startCtx, cancelStart := context.WithTimeout(ctx, 30*time.Second)
	defer cancelStart()
	log, err := queue.Open(startCtx, logConfig(cfg), logger)
	if err != nil {
		return fmt.Errorf("opening the log: %w", err)
	}
	defer log.Close()
	where := "embedded JetStream in " + filepath.Join(cfg.DataDir, "jetstream")
	if !log.Embedded() {
		where = "external JetStream"
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	specs := startSpecs(ctx, cfg, logger, "experiments are resolved once they arrive")
	if specs == nil {
		logger.Info("no STATSIG_SERVER_SECRET: experiments cannot be told from dynamic configs; config exposures are reported as such unless their name is listed in a destination's mapping.experiments")
	}

	// Intake is foreground work: a warehouse waits for it (warehouse.max_lag).
	intake := &cpupressure.Activity{}
	runners, closers, err := buildDestinations(startCtx, cfg, log, reg, specs, logger, destination.NewPriority(intake))
	if err != nil {
		return err
	}
	defer func() {
		for _, c := range closers {
			if err := c(); err != nil {
				logger.Warn("closing a destination", "err", err)
			}
		}
	}()
	pruneStaleDestinations(startCtx, cfg, log, logger)
	if len(runners) == 0 {
		logger.Warn("no destination configured (set SEGMENT_WRITE_KEY): events are kept in the log, and a destination added later starts from them")
	}

	srv := server.New(server.Config{
		APIKeys:          cfg.Intake.APIKeys,
		AllowAnyKey:      len(cfg.Intake.APIKeys) == 0,
		WebhookSecret:    cfg.Intake.WebhookSecret,
		WebhookTolerance: cfg.Intake.WebhookTolerance,
		MaxBodyBytes:     cfg.Intake.MaxBodyBytes,
		MaxEvents:        cfg.Intake.MaxEvents,
		CORSOrigins:      cfg.Intake.CORSOrigins,
		StoreTimeout:     cfg.Intake.StoreTimeout,
		Activity:         intake,
		MaxConcurrent:    cfg.Intake.MaxConcurrentRequests,
	}, log, reg, logger)
	srv.SetDestinations(func() any {
		checks := make(map[string]destination.Health, len(runners))
		for _, r := range runners {
			checks[r.Name()] = r.Health()
		}
		return checks
	})
	dbg := startDebugger(cfg, srv, runners, logger)

	// Slow clients are cut off (server.*): a stalled sender costs a
	// connection for read_timeout at most, and no intake slot.
	httpSrv := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		ReadTimeout:       cfg.Server.ReadTimeout,
		WriteTimeout:      cfg.Server.WriteTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		MaxHeaderBytes:    cfg.Server.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	if cfg.TLS.On() {
		cert, err := server.LoadCertFile(cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.TLS.CheckEvery, logger)
		if err != nil {
			return err
		}
		httpSrv.TLSConfig, scheme = cert.TLSConfig(), "https"
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	if dbg != nil {
		httpSrv.RegisterOnShutdown(dbg.Shutdown) // live streams end, so shutdown waits for none
	}
	logger.Info("statsig-bridge serving", "version", version(), "listen", ln.Addr().String(), "scheme", scheme, "log", where, "destinations", len(runners))
	if ready != nil {
		ready(ln.Addr())
	}

	// Every goroutine below is owned here and stopped through its context.
	deliverCtx, stopDeliver := context.WithCancel(context.WithoutCancel(ctx))
	defer stopDeliver()
	bgCtx, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	var wg sync.WaitGroup
	serveErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		serve := httpSrv.Serve
		if httpSrv.TLSConfig != nil {
			serve = func(ln net.Listener) error { return httpSrv.ServeTLS(ln, "", "") }
		}
		if err := serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			serveErr <- err
		}
	}()
	var delivering sync.WaitGroup
	for _, r := range runners {
		delivering.Add(1)
		go func() {
			defer delivering.Done()
			if err := r.Run(deliverCtx); err != nil {
				logger.Error("destination stopped", "destination", r.Name(), "err", err)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		log.RunTrimmer(bgCtx, cfg.Log.TrimInterval)
	}()
	if specs != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			specs.Run(bgCtx)
		}()
	}
	if dbg != nil {
		// Stopped with bgCtx, after the destinations: their last outcomes
		// are stored too.
		wg.Add(1)
		go func() {
			defer wg.Done()
			dbg.KeepStats(bgCtx, log, cfg.UI.StatsInterval)
		}()
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-serveErr:
	}
	logger.Info("shutting down: no new requests; finishing work in flight")
	begin := time.Now()
	deadline := begin.Add(cfg.ShutdownTimeout - 500*time.Millisecond)
	sctx, cancel := context.WithDeadline(context.Background(), begin.Add(cfg.ShutdownTimeout/3))
	if err := httpSrv.Shutdown(sctx); err != nil {
		logger.Warn("some requests did not finish in time", "err", err)
		httpSrv.Close()
	}
	cancel()
	stopDeliver()
	waitUntil(&delivering, deadline)
	stopBG()
	waitUntil(&wg, deadline)
	logger.Info("stopped")
	return runErr
}

func waitUntil(wg *sync.WaitGroup, deadline time.Time) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Until(deadline)):
	}
}
