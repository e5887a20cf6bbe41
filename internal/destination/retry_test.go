package destination_test

import (
	"bytes"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// TestRunnerRetriesResendTheSameMessages (Segment conformance checks 12
// and 19): a batch answered 503 twice is sent again with the same
// messages, byte for byte (the same messageIds, so Segment deduplicates a
// retry that had in fact arrived); the 200 delivers each event once and
// nothing is sent after it.
func TestRunnerRetriesResendTheSameMessages(t *testing.T) {
	t.Parallel()
	l := openLog(t)
	recv := newReceiver(t)
	var answered atomic.Int32
	recv.Respond(func([]string) int {
		if answered.Add(1) <= 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	startRunner(t, l, recv, runnerOptions{MaxBatchItems: 10, Concurrency: 1})
	publish(t, l, "retried", events("retried", 5, 0))
	testwait.For(t, 10*time.Second, "the five events delivered", func() bool { return recv.Unique() == 5 })
	waitForLagZero(t, l, defaultAckWait)

	reqs := recv.Requests()
	if len(reqs) != 3 || reqs[0].Code != 503 || reqs[1].Code != 503 || reqs[2].Code != 200 {
		t.Fatalf("%d requests, want 503, 503, 200", len(reqs))
	}
	for i, r := range reqs[1:] {
		if len(r.Items) != len(reqs[0].Items) {
			t.Fatalf("attempt %d has %d messages, the first %d", i+2, len(r.Items), len(reqs[0].Items))
		}
		for j := range r.Items {
			if !bytes.Equal(r.Items[j], reqs[0].Items[j]) {
				t.Errorf("attempt %d message %d:\n%s\nfirst attempt:\n%s", i+2, j, r.Items[j], reqs[0].Items[j])
			}
		}
	}
	for id, n := range recv.Delivered() {
		if n != 1 {
			t.Errorf("messageId %s delivered %d times", id, n)
		}
	}
	if n := len(recv.Requests()); n != 3 {
		t.Errorf("%d requests after the 200, want no more than the 3", n)
	}
}

// TestRunnerSendsAFullBatchAtOnce (Segment conformance check 24): with a
// batch size of N, N events are sent at once as one request; nothing waits
// for the flush interval (an hour here). (The runner also sends a partial
// batch at once when the log holds no more events: the interval only
// bounds how long a batch may wait for more while they keep coming.)
func TestRunnerSendsAFullBatchAtOnce(t *testing.T) {
	t.Parallel()
	l := openLog(t)
	recv := newReceiver(t)
	startRunner(t, l, recv, runnerOptions{MaxBatchItems: 5, Concurrency: 1, FlushInterval: time.Hour})
	publish(t, l, "full", events("full", 5, 0))
	testwait.For(t, 10*time.Second, "the full batch sent", func() bool { return recv.Unique() == 5 })
	if reqs := recv.Requests(); len(reqs) != 1 || len(reqs[0].Items) != 5 {
		t.Errorf("%d requests, want one of 5 messages", len(reqs))
	}
}
