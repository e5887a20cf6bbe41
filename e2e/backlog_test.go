package e2e

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// TestLongOutageCausesNoRedelivery: an outage much longer than the log's
// ack wait, with more batches waiting than workers, must not make the log
// hand the waiting batches out again: every event arrives once.
func TestLongOutageCausesNoRedelivery(t *testing.T) {
	s := newSink(t)
	var mu sync.Mutex
	var start time.Time
	s.Respond(func(*http.Request, int) (int, http.Header) {
		mu.Lock()
		defer mu.Unlock()
		if start.IsZero() {
			start = time.Now()
		}
		if time.Since(start) < 6*time.Second {
			return http.StatusServiceUnavailable, nil
		}
		return http.StatusOK, nil
	})
	cfg := testConfig(t, s.URL)
	// 2 s, not less: the runner signals progress at a third of it, and on
	// a loaded 2-core machine a shorter tick can come late (the log then
	// hands a batch out again: seen in CI with 1 s).
	cfg.Log.AckWait = 2 * time.Second
	cfg.Destinations[0].Delivery.Concurrency = 1
	cfg.Destinations[0].Delivery.MaxBatchEvents = 10
	b := startBridge(t, cfg)
	sent := postLoad(t, b.URL, 6, 10)

	d := waitDelivered(t, s, sent, 30*time.Second)
	if dups := d.checkCopies(t); dups > 0 {
		t.Errorf("%d duplicate deliveries after a 6 s outage with a 2 s ack wait; want none", dups)
	}
}

// TestRetryAfterHoldsBackEveryWorker: Segment's 429 is a limit on the
// workspace, so after it no worker may send before Retry-After has passed.
func TestRetryAfterHoldsBackEveryWorker(t *testing.T) {
	parallel(t)
	s := newSink(t)
	var mu sync.Mutex
	var limited time.Time
	s.Respond(func(*http.Request, int) (int, http.Header) {
		mu.Lock()
		defer mu.Unlock()
		if limited.IsZero() {
			limited = time.Now()
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"2"}}
		}
		return http.StatusOK, nil
	})
	cfg := testConfig(t, s.URL)
	cfg.Destinations[0].Delivery.Concurrency = 4
	cfg.Destinations[0].Delivery.MaxBatchEvents = 10
	b := startBridge(t, cfg)
	sent := map[string]bool{}
	post := func(i int) {
		body, markers := sdkBody(1, i, 10)
		mustPost(t, b.URL, body)
		for _, m := range markers {
			sent[m] = true
		}
	}
	post(0)
	testwait.For(t, 5*time.Second, "the 429", func() bool { return len(s.Requests()) > 0 })
	// Batches that arrive after the 429 go to other, idle workers: they too
	// must wait for Retry-After.
	for i := 1; i < 8; i++ {
		post(i)
	}
	waitDelivered(t, s, sent, 20*time.Second)

	reqs := s.Requests()
	if reqs[0].Code != http.StatusTooManyRequests {
		t.Fatalf("first request answered %d, want the 429", reqs[0].Code)
	}
	for i, r := range reqs[1:] {
		if gap := r.At.Sub(reqs[0].At); gap < 2*time.Second {
			t.Errorf("request %d came %s after the 429 with Retry-After: 2", i+1, gap.Round(time.Millisecond))
		}
	}
}
