package cli

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"

	"github.com/statsig-bridge/statsig-bridge/internal/config"
	"github.com/statsig-bridge/statsig-bridge/internal/demo"
	"github.com/statsig-bridge/statsig-bridge/internal/queue"
)

// demoDestination names the Segment destination demo mode adds.
const demoDestination = "demo-segment"

// StartDemo prepares `serve --demo`: it starts the demo's config specs
// server and Segment sink on loopback and changes cfg to use them:
//   - the log (and the default SQLite warehouse) move to data_dir/demo, or
//     to streams of their own on an external JetStream, so demo events
//     never mix with real ones and a later plain `serve` finds no stale
//     destination position;
//   - config specs come from the demo unless a server secret is configured;
//   - a "demo-segment" destination delivers to the sink; the configured
//     destinations stay and receive the demo events too.
//
// Pass the returned Ready to Serve: it starts the generator against the
// bound address (then calls next). Close the demo after Serve returns; the
// generator also stops when ctx is done.
func StartDemo(ctx context.Context, cfg *config.Config, logger *slog.Logger, opts demo.Options, next Ready) (*demo.Demo, Ready, error) {
	if slices.ContainsFunc(cfg.Destinations, func(d config.Destination) bool { return d.Name == demoDestination }) {
		return nil, nil, fmt.Errorf("demo mode adds a destination named %q; rename the configured one", demoDestination)
	}
	if opts.Logger == nil {
		opts.Logger = logger
	}
	d, err := demo.Start(opts)
	if err != nil {
		return nil, nil, err
	}
	isolateDemo(cfg)
	specs := "the demo's own (gates, pricing_config, checkout_button_experiment in checkout_layer, onboarding_flow_experiment)"
	if cfg.Specs.ServerSecret == "" {
		cfg.Specs.API, cfg.Specs.ServerSecret = d.SpecsAPI(), demo.ServerSecret
	} else {
		specs = "yours (STATSIG_SERVER_SECRET is set): the demo's experiments stay unresolved config exposures"
	}
	var kept []string
	for _, dst := range cfg.Destinations {
		kept = append(kept, dst.Name)
		if dst.Type != "warehouse" || dst.Warehouse.Driver != "sqlite" {
			logger.Warn("demo mode: a configured destination receives the demo's made-up events too", "destination", dst.Name, "type", dst.Type)
		}
	}
	cfg.Destinations = append(cfg.Destinations, config.Destination{
		Name: demoDestination, Type: "segment",
		Segment:  &config.Segment{WriteKey: demo.WriteKey, Endpoint: d.SinkEndpoint(), Timeout: 10 * time.Second},
		Mapping:  mappingconfig.Options{}.WithDefaults(),
		Delivery: config.Delivery{}.WithDefaults(),
	})
	if problems := cfg.Validate(); len(problems) > 0 {
		d.Close()
		return nil, nil, &configError{problems: problems}
	}
	apiKey := ""
	if len(cfg.Intake.APIKeys) > 0 {
		apiKey = cfg.Intake.APIKeys[0]
	}
	logger.Info("demo mode on: the bridge feeds itself Statsig SDK traffic (Go, js-client and Node SDK requests from several hundred users)",
		"data", cfg.DataDir, "config_specs", specs, "demo_sink", d.SinkEndpoint(), "also_delivering_to", kept)
	ready := func(addr net.Addr) {
		host := loopbackHostPort(addr)
		logger.Info("demo: open http://"+host+"/ to watch the events arrive (Live) and be delivered (Delivery); the demo-segment destination fails on purpose now and then: a 5 s outage every minute (retries) and one refused event in about 150 carts (dead letters)",
			"url", "http://"+host+"/")
		d.Generate(ctx, "http://"+host, apiKey)
		if next != nil {
			next(addr)
		}
	}
	return d, ready, nil
}

// isolateDemo keeps demo data apart from real data.
func isolateDemo(cfg *config.Config) {
	if cfg.Log.NATSURL != "" {
		cfg.Log.Stream = cmp.Or(cfg.Log.Stream, queue.DefaultStream) + "_DEMO"
		cfg.Log.DeadLetterStream = cmp.Or(cfg.Log.DeadLetterStream, queue.DefaultDeadLetterStream) + "_DEMO"
		// A prefix, not a suffix: "statsig.events.demo" could fall under a
		// real stream's wildcard.
		cfg.Log.Subject = "demo." + cmp.Or(cfg.Log.Subject, queue.DefaultSubject)
		cfg.Log.DeadLetterSubject = "demo." + cmp.Or(cfg.Log.DeadLetterSubject, queue.DefaultDeadLetterSubject)
		return
	}
	old := cfg.DataDir
	cfg.DataDir = filepath.Join(old, "demo")
	for i := range cfg.Destinations {
		w := cfg.Destinations[i].Warehouse
		if w != nil && w.Driver == "sqlite" && w.DSN == filepath.Join(old, "warehouse", w.Schema+".db") {
			w.DSN = filepath.Join(cfg.DataDir, "warehouse", w.Schema+".db")
		}
	}
}

// loopbackHostPort is addr with an unspecified IP (0.0.0.0, ::) replaced
// by 127.0.0.1: where a local browser and the generator reach the bridge.
func loopbackHostPort(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
