package cli

import (
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/statsig-bridge/statsig-bridge/internal/config"
)

// applyMemoryLimit sets the Go runtime's soft memory limit from
// memory_limit, unless GOMEMLIMIT set one already (the runtime read it at
// start, and an operator setting Go's own knob means it); it returns the
// function that restores the limit before, for Serve's return.
//
// Why a default limit: with the GC's default pacing alone the heap grows
// to twice what was live at the last collection, and under full load what
// is live includes the embedded JetStream's block caches and every batch in
// flight, so RSS followed throughput (≈ 0.5–1.5 GB). With a limit the GC
// runs more often as the process nears it instead (BENCHMARKS.md, "Memory").
// It is soft: live data above it is never refused, the GC then uses at most
// about half the CPU. The limit is the process's: with several Serve in one
// process (tests), the last one to start or return sets it.
func applyMemoryLimit(cfg *config.Config, logger *slog.Logger) (restore func()) {
	if v := os.Getenv("GOMEMLIMIT"); v != "" {
		logger.Info("memory limit from GOMEMLIMIT; memory_limit is not applied", "GOMEMLIMIT", v)
		return func() {}
	}
	limit := cfg.MemoryLimit
	if limit <= 0 {
		return func() {} // -1: no limit (the runtime's default, math.MaxInt64)
	}
	prev := debug.SetMemoryLimit(limit)
	logger.Info("Go memory limit set (memory_limit)", "bytes", limit)
	return func() { debug.SetMemoryLimit(prev) }
}
