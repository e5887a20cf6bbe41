package queue

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// TestEmbeddedStoreStuckAfterFullDisk: the store fails a write on a full
// disk and, once the disk has room again, does not answer the bridge's
// connection (reported under load after the guard's restart: acks, purges,
// stream info and publishes all time out). The log must not take that for
// recovery: Publish goes on failing at once (503 with Retry-After) instead
// of each SDK waiting out its deadline, Ready says why, and once the store
// answers again the log takes batches by itself.
//
// The stuck store is simulated with account mappings that send the stream
// info request and the events subject to a subscriber that never answers: what
// the bridge sees (requests that are never answered) is what was reported.
func TestEmbeddedStoreStuckAfterFullDisk(t *testing.T) {
	t.Parallel()
	dir := mountSmallDisk(t, "32m")
	ctx := context.Background()
	cfg := Config{DataDir: dir, MaxBytes: 64 << 20, MaxMsgSize: 12 << 20}
	l, err := Open(ctx, cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	publish := func(data []byte, id string, wait time.Duration) error {
		pctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		_, err := l.Publish(pctx, data, id)
		return err
	}
	if err := publish(incompressible(1, 10<<10), "b1", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	filler := fillDisk(t, dir, storeMinFree+1<<20)
	if err := publish(incompressible(2, storeMinFree+2<<20), "big", 20*time.Second); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("publishing a batch larger than the free space: %v, want ErrDiskFull", err)
	}

	// The store stops answering, then the disk has room again.
	unwedge := wedgeStore(t, l)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	// Long enough for the guard to have looked at the free disk (every
	// storeCheckEvery) and probed the store more than once.
	testwait.For(t, 20*time.Second, "Ready naming the store that does not answer", func() bool {
		err := l.Ready(ctx)
		return err != nil && strings.Contains(err.Error(), "does not answer")
	})
	start := time.Now()
	err = publish(incompressible(3, 10<<10), "b3", 10*time.Second)
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("publishing while the store does not answer: %v, want ErrUnavailable at once", err)
	}
	t.Logf("publishing while the store does not answer failed after %s: %v", time.Since(start).Round(time.Millisecond), err)

	// The store answers again: the log takes batches by itself.
	unwedge()
	testwait.For(t, 30*time.Second, "a batch stored once the store answers again", func() bool {
		return publish(incompressible(4, 10<<10), "b4", 3*time.Second) == nil
	})
	if err := l.Ready(ctx); err != nil {
		t.Errorf("Ready after recovery: %v", err)
	}
}

// TestEmbeddedStoreStuckAnswers503: the store stops answering while the
// disk has room and no write failed. The first publish waits out its
// deadline; then the guard probes the store, and later publishes fail at
// once (503 with Retry-After) until the store answers again.
func TestEmbeddedStoreStuckAnswers503(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := openLog(t, Config{DataDir: t.TempDir()})
	publish := func(id string, wait time.Duration) error {
		pctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		_, err := l.Publish(pctx, []byte(id), id)
		return err
	}
	if err := publish("b1", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	unwedge := wedgeStore(t, l)
	if err := publish("b2", time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("publishing to a store that does not answer: %v, want the deadline", err)
	}
	testwait.For(t, 20*time.Second, "Ready naming the store that does not answer", func() bool {
		err := l.Ready(ctx)
		return err != nil && strings.Contains(err.Error(), "does not answer")
	})
	if err := publish("b3", 10*time.Second); !errors.Is(err, ErrUnavailable) {
		t.Errorf("publishing once the guard saw the store does not answer: %v, want ErrUnavailable at once", err)
	}
	unwedge()
	testwait.For(t, 30*time.Second, "a batch stored once the store answers again", func() bool {
		return publish("b4", 3*time.Second) == nil
	})
}

// wedgeStore makes the embedded store look stuck to the log's connection,
// as reported: the stream info request and publishes on the events subject
// go (by account mappings) to a subscriber that never answers, so they time
// out. The returned func undoes it.
func wedgeStore(t *testing.T, l *Log) (unwedge func()) {
	t.Helper()
	sink, err := l.nc.Subscribe("unanswered.>", func(*nats.Msg) {})
	if err != nil {
		t.Fatal(err)
	}
	acc := l.ns.GlobalAccount()
	wedged := []string{"$JS.API.STREAM.INFO." + l.cfg.Stream, l.cfg.Subject}
	for _, subj := range wedged {
		if err := acc.AddMapping(subj, "unanswered."+strings.ReplaceAll(subj, "$", "_")); err != nil {
			t.Fatal(err)
		}
	}
	return func() {
		for _, subj := range wedged {
			acc.RemoveMapping(subj)
		}
		_ = sink.Unsubscribe()
	}
}
