package e2e

import (
	"bytes"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/config"
	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// Destination faults, each under a steady stream of SDK requests (see
// faults_helpers_test.go). outage_test.go covers a single 503 outage, one
// 429 with Retry-After, a 401 pause and the bisection of one bad batch
// without traffic; these add traffic during the fault and the faults it
// does not cover. Intake must answer 202 throughout: a destination's
// trouble is kept in the log, not passed on to the SDKs.

// faultBridge starts a bridge delivering to a target in front of a sink,
// with a steady stream of requests already running.
func faultBridge(t *testing.T, tweak func(cfg *config.Config)) (*bridge, *target, *sink, *steady) {
	t.Helper()
	s := newSink(t)
	tg := newTarget(t, s)
	cfg := testConfig(t, tg.URL)
	if tweak != nil {
		tweak(cfg)
	}
	b := startBridge(t, cfg)
	st := startSteady(t, b.URL, 2, 10, 100*time.Millisecond, 10*time.Second)
	st.waitMore(t, 100, 20*time.Second, "before the fault")
	return b, tg, s, st
}

// TestFaultSlowDestinationUnderTimeout: the destination takes 10 s to
// answer, below the client's timeout (15 s here) but well past the log's
// ack wait (3 s here). Nothing is sent twice: the slow requests are not
// given up, and the batches they carry are kept in progress in the log
// rather than handed out again to another worker.
func TestFaultSlowDestinationUnderTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("a long fault run (10 s destination answers); go test without -short runs it")
	}
	parallelLong(t)
	b, tg, s, st := faultBridge(t, func(cfg *config.Config) {
		cfg.Destinations[0].Segment.Timeout = 15 * time.Second
		cfg.Log.AckWait = 3 * time.Second
	})
	var slow atomic.Int64
	tg.Answer(func(*http.Request) (time.Duration, int, http.Header) {
		slow.Add(1)
		return 10 * time.Second, 0, nil
	})
	testwait.For(t, 10*time.Second, "a request held 10 s by the destination", func() bool { return slow.Load() > 0 })
	time.Sleep(time.Second) // let every worker take a slow request
	tg.Healthy()
	st.waitMore(t, 200, 30*time.Second, "while the destination is slow")

	out := checkDelivered(t, "slow destination (10 s answers, 15 s timeout)", st, s, 60*time.Second)
	st.checkIntakeAlways202(t)
	if out.Duplicates != 0 {
		t.Errorf("%d events were sent twice although no request timed out: a batch in a slow request was handed out again", out.Duplicates)
	}
	if n := deadLettered(t, b.URL); n != 0 {
		t.Errorf("%v events dead-lettered", n)
	}
	t.Logf("%d requests answered after 10 s", slow.Load())
}

// TestFaultSlowDestinationOverTimeout: the destination answers after 1 s
// while the bridge gives up after 300 ms, and it does accept the batches
// it answers late (like a real service whose answer is lost). The bridge
// retries them: every event arrives, and an event that arrives twice
// carries the same messageId both times, so Segment keeps one.
func TestFaultSlowDestinationOverTimeout(t *testing.T) {
	parallel(t)
	b, tg, s, st := faultBridge(t, func(cfg *config.Config) {
		cfg.Destinations[0].Segment.Timeout = 300 * time.Millisecond
	})
	var late atomic.Int64
	tg.Answer(func(*http.Request) (time.Duration, int, http.Header) {
		late.Add(1)
		return time.Second, 0, nil
	})
	st.waitMore(t, 300, 30*time.Second, "while the destination answers after the timeout")
	tg.Healthy()
	st.waitMore(t, 100, 20*time.Second, "after the destination recovered")

	out := checkDelivered(t, "destination slower than the timeout", st, s, 30*time.Second)
	st.checkIntakeAlways202(t)
	if late.Load() < 2 {
		t.Fatalf("only %d late answers: the fault did not happen", late.Load())
	}
	if v, _ := metric(t, b.URL, `statsig_bridge_retried_batches_total{destination="segment"}`); v < 1 {
		t.Errorf("no retry after %d timed-out requests", late.Load())
	}
	if n := deadLettered(t, b.URL); n != 0 {
		t.Errorf("%v events dead-lettered", n)
	}
	t.Logf("%d requests answered after the timeout; %d events arrived twice, each with its one messageId", late.Load(), out.Duplicates)
}

// TestFaultDestinationRefusesConnections: the destination stops listening
// for 3 s (connections refused, requests in flight cut off) and then
// listens again on the same port.
func TestFaultDestinationRefusesConnections(t *testing.T) {
	parallel(t)
	b, tg, s, st := faultBridge(t, nil)
	tg.Down()
	before := tg.requests.Load()
	st.waitMore(t, 300, 30*time.Second, "while the destination refuses connections")
	if got := tg.requests.Load(); got != before {
		t.Fatalf("%d requests reached a destination that was not listening", got-before)
	}
	tg.Up()
	st.waitMore(t, 100, 20*time.Second, "after the destination listens again")

	checkDelivered(t, "destination refusing connections", st, s, 30*time.Second)
	st.checkIntakeAlways202(t)
	if v, _ := metric(t, b.URL, `statsig_bridge_destination_request_errors_total{class="network",destination="segment"}`); v < 1 {
		t.Errorf("no network error counted while the destination refused connections")
	}
	if n := deadLettered(t, b.URL); n != 0 {
		t.Errorf("%v events dead-lettered", n)
	}
}

// TestFaultDestinationFlapping: the destination goes down and up again
// every 300 ms for 4 s; requests in flight are cut off at each fall.
func TestFaultDestinationFlapping(t *testing.T) {
	if testing.Short() {
		t.Skip("a long fault run (4 s of a flapping destination); go test without -short runs it")
	}
	parallelLong(t)
	b, tg, s, st := faultBridge(t, nil)
	end := time.Now().Add(4 * time.Second)
	for time.Now().Before(end) {
		tg.Down()
		time.Sleep(300 * time.Millisecond)
		tg.Up()
		time.Sleep(300 * time.Millisecond)
	}
	st.waitMore(t, 100, 20*time.Second, "after the flapping")

	out := checkDelivered(t, "flapping destination", st, s, 30*time.Second)
	st.checkIntakeAlways202(t)
	if n := deadLettered(t, b.URL); n != 0 {
		t.Errorf("%v events dead-lettered", n)
	}
	t.Logf("%d falls; %d requests reached the destination; %d duplicates", tg.refused.Load(), tg.requests.Load(), out.Duplicates)
}

// TestFault429Storm*: every request is answered 429 for 3 s, with and
// without Retry-After. Nothing is dead-lettered and nothing arrives twice
// (a 429 accepts nothing), and delivery resumes when the storm ends.
// (Two tests, not two parallel subtests: see TestFaultExternalNATSRestart*.)
func TestFault429StormWithRetryAfter(t *testing.T) {
	fault429Storm(t, "with Retry-After", http.Header{"Retry-After": {"1"}})
}

func TestFault429StormWithoutRetryAfter(t *testing.T) {
	fault429Storm(t, "without Retry-After", nil)
}

func fault429Storm(t *testing.T, name string, header http.Header) {
	if testing.Short() {
		t.Skip("a long fault run (a 3 s storm of 429); go test without -short runs it")
	}
	parallelLong(t) // a bridge, destination and sink of its own
	b, tg, s, st := faultBridge(t, nil)
	var storm atomic.Int64
	tg.Answer(func(*http.Request) (time.Duration, int, http.Header) {
		storm.Add(1)
		return 0, http.StatusTooManyRequests, header
	})
	time.Sleep(3 * time.Second)
	tg.Healthy()
	st.waitMore(t, 100, 20*time.Second, "after the storm")

	out := checkDelivered(t, "429 storm "+name, st, s, 30*time.Second)
	st.checkIntakeAlways202(t)
	if storm.Load() < 2 {
		t.Fatalf("only %d answers of 429: the storm did not happen", storm.Load())
	}
	if out.Duplicates != 0 {
		t.Errorf("%d duplicates although a 429 accepts nothing", out.Duplicates)
	}
	if n := deadLettered(t, b.URL); n != 0 {
		t.Errorf("%v events dead-lettered in a 429 storm", n)
	}
	t.Logf("%d answers of 429 in 3 s", storm.Load())
}

// TestFaultPoisonEventsAmidTraffic: the destination refuses (400) every
// batch holding an event it cannot take; three such events arrive among
// the steady stream. Only those three are dead-lettered; every other
// event is delivered once.
func TestFaultPoisonEventsAmidTraffic(t *testing.T) {
	parallel(t)
	s := newSink(t)
	tg := newTarget(t, s)
	var refused atomic.Int64
	tg.Answer(func(r *http.Request) (time.Duration, int, http.Header) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if bytes.Contains(body, []byte(`"poison-`)) {
			refused.Add(1)
			return 0, http.StatusBadRequest, nil
		}
		return 0, 0, nil
	})
	b := startBridge(t, testConfig(t, tg.URL))
	st := startSteady(t, b.URL, 2, 10, 100*time.Millisecond, 10*time.Second)
	st.waitMore(t, 100, 20*time.Second, "before the poison")
	for i := range 3 {
		body, _ := sdkBody(2000, i, 10)
		body = bytes.Replace(body, []byte(`"seq":"2000-`), []byte(`"seq":"poison-2000-`), 1)
		mustPost(t, b.URL, body)
		time.Sleep(200 * time.Millisecond)
	}
	st.waitMore(t, 100, 20*time.Second, "after the poison")

	const rejected = `statsig_bridge_dead_lettered_events_total{destination="segment",reason="rejected_by_destination"}`
	testwait.For(t, 20*time.Second, "the three poison events in the dead letters", func() bool {
		v, _ := metric(t, b.URL, rejected)
		return v >= 3
	})
	out := checkDelivered(t, "poison events amid traffic", st, s, 30*time.Second)
	st.checkIntakeAlways202(t)
	if n := deadLettered(t, b.URL); n != 3 {
		t.Errorf("%v events dead-lettered, want only the 3 poison ones", n)
	}
	if out.Duplicates != 0 {
		t.Errorf("%d duplicates", out.Duplicates)
	}
	// The poison requests' other 27 events are delivered too.
	want := map[string]bool{}
	for i := range 3 {
		_, markers := sdkBody(2000, i, 10)
		for _, m := range markers[1:] {
			want[m] = true
		}
	}
	waitDelivered(t, s, want, 10*time.Second)
	t.Logf("%d batches refused with 400 while bisecting", refused.Load())
}
