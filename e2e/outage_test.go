package e2e

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// postLoad posts requests SDK batches of n events each and returns the
// markers sent.
func postLoad(t testing.TB, base string, requests, n int) map[string]bool {
	t.Helper()
	sent := map[string]bool{}
	for i := range requests {
		body, markers := sdkBody(0, i, n)
		mustPost(t, base, body)
		for _, m := range markers {
			sent[m] = true
		}
	}
	return sent
}

// deadLettered sums statsig_bridge_dead_lettered_events_total over reasons.
func deadLettered(t testing.TB, base string) float64 {
	t.Helper()
	return metricSum(t, base, "statsig_bridge_dead_lettered_events_total")
}

// TestOutageRetriesUntilDelivered: Segment answers 503 for two
// seconds; the bridge retries and then delivers every event exactly once.
func TestOutageRetriesUntilDelivered(t *testing.T) {
	parallel(t)
	s := newSink(t)
	var mu sync.Mutex
	var outageStart time.Time
	s.Respond(func(*http.Request, int) (int, http.Header) {
		mu.Lock()
		defer mu.Unlock()
		if outageStart.IsZero() {
			outageStart = time.Now()
		}
		if time.Since(outageStart) < 2*time.Second {
			return http.StatusServiceUnavailable, nil
		}
		return http.StatusOK, nil
	})
	b := startBridge(t, testConfig(t, s.URL))
	sent := postLoad(t, b.URL, 5, 100)

	d := waitDelivered(t, s, sent, 20*time.Second)
	if dups := d.checkCopies(t); dups > 0 || s.Unique() != len(sent) {
		t.Errorf("sent %d events, the sink got %d distinct and %d duplicates; want each exactly once", len(sent), s.Unique(), dups)
	}
	unavailable := 0
	for _, r := range s.Requests() {
		if r.Code == http.StatusServiceUnavailable {
			unavailable++
		}
	}
	if unavailable == 0 {
		t.Fatal("the sink never answered 503: the test did not test an outage")
	}
	if v, _ := metric(t, b.URL, `statsig_bridge_retried_batches_total{destination="segment"}`); v < 1 {
		t.Errorf("statsig_bridge_retried_batches_total = %v after %d answers of 503, want ≥ 1", v, unavailable)
	}
	if n := deadLettered(t, b.URL); n != 0 {
		t.Errorf("%v events dead-lettered during a transient outage", n)
	}
	t.Logf("%d answers of 503, then %d events delivered", unavailable, len(sent))
}

// TestOutageHonoursRetryAfter: after a 429 with Retry-After: 2 the
// bridge sends nothing to Segment for at least two seconds.
func TestOutageHonoursRetryAfter(t *testing.T) {
	parallel(t)
	s := newSink(t)
	s.Respond(func(_ *http.Request, attempt int) (int, http.Header) {
		if attempt == 0 {
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"2"}}
		}
		return http.StatusOK, nil
	})
	b := startBridge(t, testConfig(t, s.URL))
	sent := postLoad(t, b.URL, 1, 10)
	waitDelivered(t, s, sent, 20*time.Second)

	reqs := s.Requests()
	if reqs[0].Code != http.StatusTooManyRequests || len(reqs) < 2 {
		t.Fatalf("want a 429 then a retry, got %d requests, first answered %d", len(reqs), reqs[0].Code)
	}
	gap := reqs[1].At.Sub(reqs[0].At)
	if gap < 2*time.Second {
		t.Errorf("the next request came %s after the 429 with Retry-After: 2, want ≥ 2s", gap)
	}
	if reqs[1].Code != http.StatusOK || reqs[1].Items != len(sent) {
		t.Errorf("retry after the 429: code %d with %d items, want 200 with %d", reqs[1].Code, reqs[1].Items, len(sent))
	}
	t.Logf("retry %s after the 429", gap.Round(time.Millisecond))
}

// TestDestinationPausesOnRefusedWriteKey: Segment answers 401; the
// destination pauses (nothing is dead-lettered: the events wait in the log)
// and resumes, delivering everything, once the key is accepted again.
func TestDestinationPausesOnRefusedWriteKey(t *testing.T) {
	parallel(t)
	s := newSink(t)
	var refuse atomic.Bool
	refuse.Store(true)
	s.Respond(func(*http.Request, int) (int, http.Header) {
		if refuse.Load() {
			return http.StatusUnauthorized, nil
		}
		return http.StatusOK, nil
	})
	cfg := testConfig(t, s.URL)
	cfg.Destinations[0].Delivery.Retry.PauseProbe = 200 * time.Millisecond
	b := startBridge(t, cfg)
	sent := postLoad(t, b.URL, 3, 20)

	const paused = `statsig_bridge_destination_paused{destination="segment"}`
	testwait.For(t, 10*time.Second, "the destination to pause", func() bool {
		v, _ := metric(t, b.URL, paused)
		return v == 1
	})
	// A paused destination keeps probing; still nothing may be lost.
	testwait.For(t, 10*time.Second, "probes while paused", func() bool { return len(s.Requests()) >= 3 })
	if n := deadLettered(t, b.URL); n != 0 {
		t.Fatalf("%v events dead-lettered while the destination was paused", n)
	}
	if s.Unique() != 0 {
		t.Fatalf("the sink recorded %d messages while answering 401", s.Unique())
	}

	refuse.Store(false)
	d := waitDelivered(t, s, sent, 10*time.Second)
	if dups := d.checkCopies(t); dups > 0 || s.Unique() != len(sent) {
		t.Errorf("sent %d events, the sink got %d distinct and %d duplicates", len(sent), s.Unique(), dups)
	}
	testwait.For(t, 5*time.Second, "the destination to resume", func() bool {
		v, _ := metric(t, b.URL, paused)
		return v == 0
	})
	if n := deadLettered(t, b.URL); n != 0 {
		t.Errorf("%v events dead-lettered", n)
	}
}

// TestBisectDeadLettersOnlyThePoisonEvent: Segment refuses (400) any batch
// holding one bad event; the bridge splits the batch until it has found
// that event, dead-letters it alone and delivers all the others.
func TestBisectDeadLettersOnlyThePoisonEvent(t *testing.T) {
	parallel(t)
	s := newSink(t)
	var refused atomic.Int32
	// The harness sink decides before it sees the body; this front decides
	// on the body and hands everything else to the sink.
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if bytes.Contains(body, []byte(`"poison"`)) {
			refused.Add(1)
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"invalid message"}`))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.serve(w, r)
	}))
	t.Cleanup(front.Close)
	b := startBridge(t, testConfig(t, front.URL))

	body, markers := sdkBody(0, 0, 40)
	body = bytes.Replace(body, []byte(`"seq":"0-0-17"`), []byte(`"seq":"poison"`), 1)
	mustPost(t, b.URL, body)
	want := map[string]bool{}
	for _, m := range markers {
		if m != "0-0-17" {
			want[m] = true
		}
	}

	const rejected = `statsig_bridge_dead_lettered_events_total{destination="segment",reason="rejected_by_destination"}`
	d := waitDelivered(t, s, want, 10*time.Second)
	testwait.For(t, 10*time.Second, "the poison event in the dead letters", func() bool {
		v, _ := metric(t, b.URL, rejected)
		return v >= 1
	})
	if v, _ := metric(t, b.URL, rejected); v != 1 {
		t.Errorf("%s = %v, want 1", rejected, v)
	}
	if n := deadLettered(t, b.URL); n != 1 {
		t.Errorf("%v events dead-lettered in all, want only the poison one", n)
	}
	if dups := d.checkCopies(t); dups > 0 {
		t.Errorf("%d duplicates", dups)
	}
	if got := len(deliveries(s)); got != len(want) {
		t.Errorf("the sink got %d distinct events, want the %d good ones", got, len(want))
	}
	t.Logf("%d requests refused with 400 while bisecting a batch of %d", refused.Load(), len(markers))
	// Segment check 20: the dead letter keeps the status and the answer.
	if dls := deadLetters(t, b, "segment"); len(dls) != 1 || dls[0].Status != http.StatusBadRequest ||
		dls[0].Detail != `HTTP 400: {"error":"invalid message"}` {
		t.Errorf("dead letters %+v, want one keeping HTTP 400 and the body", dls)
	}
}
