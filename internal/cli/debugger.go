package cli

import (
	"log/slog"

	"github.com/statsig-bridge/statsig-bridge/internal/config"
	"github.com/statsig-bridge/statsig-bridge/internal/debugger"
	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/server"
)

// startDebugger records events and outcomes for the debugger and mounts
// its pages and API on srv; nil when the UI is off. Call before serving and
// before the runners run.
func startDebugger(cfg *config.Config, srv *server.Server, runners []*destination.Runner, logger *slog.Logger) *debugger.Debugger {
	if !cfg.UI.On() {
		logger.Info("debugger UI off (ui.enabled: false)")
		return nil
	}
	access := debugger.Access{Loopback: config.IsLoopback(cfg.Listen), Token: cfg.UI.Token, BasicAuth: cfg.UI.BasicAuth}
	if !access.Enabled() {
		logger.Warn("debugger UI off: the bridge listens on " + cfg.Listen + ", which is not loopback, and neither ui.token (BRIDGE_UI_TOKEN) nor ui.basic_auth is set; event payloads carry personal data. Intake is not affected")
		return nil
	}
	dests := make([]debugger.Destination, len(runners))
	for i, r := range runners {
		dests[i] = r
	}
	dbg := debugger.New(debugger.Options{Config: cfg, Destinations: dests, Logger: logger})
	srv.SetObserver(dbg)
	for _, r := range runners {
		r.SetObserver(dbg)
	}
	dbg.Mount(srv, access)
	how := "open: the bridge listens on loopback only"
	if !access.Loopback {
		how = "token (ui.token, BRIDGE_UI_TOKEN) or basic auth required"
	}
	logger.Info("debugger UI at / ("+how+")", "listen", cfg.Listen)
	return dbg
}
