// Package demo is what `statsig-bridge serve --demo` adds to a bridge: a
// generator of realistic Statsig SDK traffic (several hundred users, gates,
// a dynamic config, two experiments, one in a layer, custom events) posted
// to the bridge's own intake in the exact wire formats of the Go server SDK,
// the js-client and the Rust-core Node SDK; a config specs server for that
// project, so experiments resolve; and a Segment-compatible sink that fails
// now and then, so retries and dead letters show.
//
// Everything listens on loopback only and stops with Close. The package
// does not touch the bridge's configuration (internal/cli wires it).
package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Options tune the demo; zero values take the defaults.
type Options struct {
	Seed        uint64
	Users       int
	Rate        float64
	Burst       int
	PoisonEvery int
	// OutageEvery, OutageFor, OutageOffset schedule the sink's 503 bursts
	// (OutageFor < 0: none).
	OutageEvery, OutageFor, OutageOffset time.Duration
	Logger                               *slog.Logger
}

// Demo is a running specs server and sink, and, once Generate is called,
// a generator.
type Demo struct {
	opts     Options
	specs    *http.Server
	specsURL string
	sink     *Sink
	sinkSrv  *http.Server
	sinkURL  string
	servers  sync.WaitGroup

	mu        sync.Mutex
	gen       *Generator
	stopGen   context.CancelFunc
	generator sync.WaitGroup
	closed    bool
}

// Start starts the specs server and the sink on 127.0.0.1.
func Start(opts Options) (*Demo, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Demo{opts: opts, sink: NewSink()}
	if opts.OutageEvery > 0 {
		d.sink.OutageEvery = opts.OutageEvery
	}
	if opts.OutageFor != 0 {
		d.sink.OutageFor = opts.OutageFor
	}
	if opts.OutageOffset > 0 {
		d.sink.OutageOffset = opts.OutageOffset
	}
	var err error
	if d.specs, d.specsURL, err = d.serve(specsHandler()); err != nil {
		return nil, fmt.Errorf("starting the demo's config specs server: %w", err)
	}
	if d.sinkSrv, d.sinkURL, err = d.serve(d.sink); err != nil {
		d.specs.Close()
		d.servers.Wait()
		return nil, fmt.Errorf("starting the demo's Segment sink: %w", err)
	}
	return d, nil
}

func (d *Demo) serve(h http.Handler) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(d.opts.Logger.Handler(), slog.LevelDebug)}
	d.servers.Add(1)
	go func() {
		defer d.servers.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.opts.Logger.Warn("demo: a loopback server stopped", "err", err)
		}
	}()
	return srv, "http://" + ln.Addr().String(), nil
}

// SpecsAPI is the base URL to fetch the demo's config specs from with
// ServerSecret ({SpecsAPI}/download_config_specs/demo-secret.json).
func (d *Demo) SpecsAPI() string { return d.specsURL + "/v1" }

// SinkEndpoint is the sink's base URL, a Segment endpoint for WriteKey.
func (d *Demo) SinkEndpoint() string { return d.sinkURL }

// Sink returns the sink.
func (d *Demo) Sink() *Sink { return d.sink }

// Generate starts the generator posting to the bridge at target with
// apiKey ("" for the demo's own keys) until ctx is done or Close.
func (d *Demo) Generate(ctx context.Context, target, apiKey string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || d.gen != nil {
		return
	}
	seed := d.opts.Seed
	if seed == 0 {
		seed = DefaultSeed
	}
	d.gen = &Generator{Target: target, APIKey: apiKey, Seed: seed, Users: d.opts.Users, Rate: d.opts.Rate,
		Burst: d.opts.Burst, PoisonEvery: d.opts.PoisonEvery, Logger: d.opts.Logger}
	gctx, cancel := context.WithCancel(ctx)
	d.stopGen = cancel
	d.generator.Add(1)
	go func() {
		defer d.generator.Done()
		d.gen.Run(gctx)
	}()
}

// GeneratorStats returns what the generator sent so far.
func (d *Demo) GeneratorStats() Stats {
	d.mu.Lock()
	g := d.gen
	d.mu.Unlock()
	if g == nil {
		return Stats{}
	}
	return g.Stats()
}

// Close stops the generator, then the servers. Call it after the bridge
// stopped: its destinations may deliver to the sink until then.
func (d *Demo) Close() error {
	d.mu.Lock()
	d.closed = true
	if d.stopGen != nil {
		d.stopGen()
	}
	d.mu.Unlock()
	d.generator.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var errs []error
	for _, srv := range []*http.Server{d.specs, d.sinkSrv} {
		if srv.Shutdown(ctx) != nil {
			// Something is still connected after the grace period: most
			// often a connection a client dialled and gave up on before
			// sending a request (the stopped bridge's), which net/http
			// counts as idle only after 5 s. Nobody is waiting for an
			// answer from the demo's servers any more: close it.
			errs = append(errs, srv.Close())
		}
	}
	d.servers.Wait()
	return errors.Join(errs...)
}
