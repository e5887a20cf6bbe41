package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/queue"
)

// TestRemovedDestinationPositionIsDropped: a destination taken out of the
// config keeps its log position (holding every later batch) until the
// operator asks to drop it with log.remove_stale_destinations.
func TestRemovedDestinationPositionIsDropped(t *testing.T) {
	parallel(t)
	s := newSink(t)
	cfg := testConfig(t, s.URL)
	startBridge(t, cfg).Stop()

	positions := func() []string {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		l, err := queue.Open(ctx, queue.Config{DataDir: cfg.DataDir}, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		d, err := l.Destinations(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if got := positions(); len(got) != 1 || got[0] != "segment" {
		t.Fatalf("after the first run: positions %v, want [segment]", got)
	}

	cfg.Destinations = nil
	startBridge(t, cfg).Stop()
	if got := positions(); len(got) != 1 {
		t.Fatalf("without remove_stale_destinations the position must stay: %v", got)
	}

	cfg.Log.RemoveStaleDestinations = true
	startBridge(t, cfg).Stop()
	if got := positions(); len(got) != 0 {
		t.Fatalf("with remove_stale_destinations: positions %v, want none", got)
	}
}
