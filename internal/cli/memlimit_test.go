package cli_test

import (
	"context"
	"net"
	"os"
	"runtime/debug"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/cli"
	"github.com/statsig-bridge/statsig-bridge/internal/config"
)

// serve sets memory_limit as the Go runtime's soft limit while it runs and
// restores the limit before when it returns; -1 leaves the runtime alone.
func TestServeAppliesMemoryLimit(t *testing.T) {
	if os.Getenv("GOMEMLIMIT") != "" {
		t.Skip("GOMEMLIMIT is set: it wins over memory_limit by design")
	}
	before := debug.SetMemoryLimit(-1)
	for _, tc := range []struct {
		env  string
		want int64
	}{
		{"", config.DefaultMemoryLimit},
		{"134217728", 128 << 20},
		{"-1", before},
	} {
		env := map[string]string{"BRIDGE_LISTEN": "127.0.0.1:0", "BRIDGE_DATA_DIR": t.TempDir(), "BRIDGE_WAREHOUSE": "off", "BRIDGE_MEMORY_LIMIT": tc.env}
		cfg, err := config.FromEnv(func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		addrs := make(chan net.Addr, 1)
		done := make(chan error, 1)
		go func() { done <- cli.Serve(ctx, cfg, discardLogger(), func(a net.Addr) { addrs <- a }) }()
		select {
		case <-addrs:
		case err := <-done:
			cancel()
			t.Fatalf("BRIDGE_MEMORY_LIMIT=%q: bridge did not start: %v", tc.env, err)
		case <-time.After(30 * time.Second):
			cancel()
			t.Fatal("bridge did not start within 30 s")
		}
		if got := debug.SetMemoryLimit(-1); got != tc.want {
			t.Errorf("BRIDGE_MEMORY_LIMIT=%q: limit while serving = %d, want %d", tc.env, got, tc.want)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("bridge stopped with error: %v", err)
		}
		if got := debug.SetMemoryLimit(-1); got != before {
			t.Errorf("BRIDGE_MEMORY_LIMIT=%q: limit after serve = %d, want the one before, %d", tc.env, got, before)
		}
	}
}
