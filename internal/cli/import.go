package cli

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/backfill"
)

// runImport loads historical Statsig events from files into a running
// bridge: each event is re-sent to the bridge's intake over HTTP, so it
// goes through the same durable log and destinations as live traffic, with
// its original time (see README "Backfill").
func runImport(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("import", env)
	path := fs.String("config", "", "YAML config `file` for the default --url and --api-key (default: environment variables)")
	base := fs.String("url", "", "the running bridge's `URL` (default http:// + the config's listen address)")
	apiKey := fs.String("api-key", "", "STATSIG-API-KEY to send (default the first of STATSIG_API_KEYS)")
	batch := fs.Int("batch", backfill.DefaultBatchEvents, "events per request; messageIds depend on it, so re-import with the same value")
	limit := fs.Float64("rate", 0, "at most `N` events per second (0: no limit)")
	resume := fs.Bool("resume", false, "keep the position of the last stored request in a position file and start from it")
	statePath := fs.String("state", "", "position `file` (default FILE.import-position)")
	interval := fs.Duration("progress-interval", 10*time.Second, "time between progress lines when stderr is not a terminal")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return &usageError{"import needs at least one FILE"}
	}
	if *batch <= 0 || *limit < 0 {
		return &usageError{"--batch must be positive and --rate not negative"}
	}
	if *base == "" || *apiKey == "" {
		cfg, err := loadConfig(*path, env)
		if err != nil {
			return err
		}
		if *base == "" {
			*base = "http://" + dialable(cfg.Listen)
		}
		if *apiKey == "" && len(cfg.Intake.APIKeys) > 0 {
			*apiKey = cfg.Intake.APIKeys[0]
		}
	}
	if u, err := url.Parse(*base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &usageError{"--url must be an http:// or https:// URL of the bridge, like http://bridge:8080"}
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	im := &backfill.Importer{
		URL:         *base,
		APIKey:      *apiKey,
		BatchEvents: *batch,
		Rate:        *limit,
		Resume:      *resume,
		StatePath:   *statePath,
		Decode:      DecodeAny,
		Progress:    &backfill.Progress{W: env.Stderr, Terminal: isTerminal(env.Stderr), Interval: *interval},
	}
	_, err := im.Run(ctx, fs.Args())
	if err != nil && ctx.Err() != nil {
		if *resume {
			return errors.New("interrupted; the same command continues from the position file")
		}
		return errors.New("interrupted; with --resume, an import can continue where it stopped")
	}
	return err
}

// dialable turns a listen address into one to connect to: a wildcard host
// (":8080", "0.0.0.0:8080", "[::]:8080") becomes loopback.
func dialable(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// isTerminal reports whether w is a terminal (progress redrawn in place).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
