package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/queue"
	"github.com/statsig-bridge/statsig-bridge/internal/server"
)

// TestIntakeAnswers503WhenLogIsFull fills a 64 KiB log with posts: once it
// is full every post is answered 503 with Retry-After, nothing accepted
// before is lost, and intake recovers once the stored batches are acked
// and trimmed.
func TestIntakeAnswers503WhenLogIsFull(t *testing.T) {
	t.Parallel() // a log and server of its own
	in := startIntake(t, server.Config{AllowAnyKey: true}, queue.Config{MaxBytes: 64 << 10, MaxMsgSize: 16 << 10})
	var accepted []string // the prefix of every request answered 2xx
	var full answer
	for i := 0; ; i++ {
		if i == 200 {
			t.Fatalf("%d posts of ~3.5 KB into a 64 KiB log were all accepted", i)
		}
		prefix := fmt.Sprintf("fill%03d", i)
		a := do(t, post(t, in.URL+"/v1/log_event", eventsBody(prefix, 3, 1000), nil))
		if a.Code == http.StatusAccepted {
			accepted = append(accepted, prefix)
			continue
		}
		full = a
		break
	}
	t.Logf("log full after %d accepted posts", len(accepted))
	if len(accepted) < 5 {
		t.Errorf("only %d posts accepted before the log was full, want the log to hold ~64 KiB", len(accepted))
	}
	if full.Code != http.StatusServiceUnavailable || full.Success || !strings.Contains(full.Error, "full") {
		t.Fatalf("full log: %d %s, want 503 saying the log is full", full.Code, full.Raw)
	}
	if s, err := strconv.Atoi(full.Header.Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("Retry-After %q, want a positive number of seconds", full.Header.Get("Retry-After"))
	}
	// Nothing has been acked: no request of the same size may succeed. (A
	// smaller one may still fit in the bytes left: the limit is in bytes.)
	for i := range 5 {
		a := do(t, post(t, in.URL+"/v1/log_event", eventsBody(fmt.Sprintf("more%03d", i), 3, 1000), nil))
		if a.Code/100 == 2 {
			t.Fatalf("post %d after the log filled: %d %s, want 503 until something is acked", i, a.Code, a.Raw)
		}
		if a.Code != http.StatusServiceUnavailable || a.Header.Get("Retry-After") == "" {
			t.Errorf("post %d after the log filled: %d %s, want 503 with Retry-After", i, a.Code, a.Raw)
		}
	}

	// Every accepted request is in the log, in order, with its events.
	got := readLog(t, in.Log, len(accepted))
	for i, s := range got {
		names := eventNames(s.Batch)
		if len(names) != 3 || names[0] != accepted[i]+"-0" {
			t.Errorf("batch %d holds %v, want the 3 events of %s", i, names, accepted[i])
		}
	}
	m := scrape(t, in.URL)
	if v := metricValue(t, m, "statsig_bridge_backpressure_responses_total"); v != 6 {
		t.Errorf("backpressure_responses_total = %v, want 6", v)
	}

	// readLog's consumer acked everything and is the only consumer: a trim
	// frees the log and intake accepts again.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	purged, err := in.Log.Trim(ctx)
	if err != nil || purged != uint64(len(accepted)) {
		t.Fatalf("trim purged %d (%v), want %d", purged, err, len(accepted))
	}
	if a := do(t, post(t, in.URL+"/v1/log_event", eventsBody("after-trim", 3, 1000), nil)); a.Code != http.StatusAccepted {
		t.Errorf("post after acking and trimming: %d %s, want 202", a.Code, a.Raw)
	}
}
