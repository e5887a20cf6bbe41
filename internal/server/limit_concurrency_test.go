package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/queue"
	"github.com/statsig-bridge/statsig-bridge/internal/server"
)

// TestIntakeBoundsConcurrentRequests: past max_concurrent_requests the
// intake answers 503 with Retry-After instead of holding more bodies in
// memory; the request in hand still completes.
func TestIntakeBoundsConcurrentRequests(t *testing.T) {
	in := startIntake(t, server.Config{AllowAnyKey: true, MaxConcurrent: 1}, queue.Config{})
	pr, pw := io.Pipe()
	slow, _ := http.NewRequest(http.MethodPost, in.URL+"/v1/log_event", pr)
	done := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(slow)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	// The first request now holds the only slot while its body trickles in.
	if _, err := pw.Write([]byte(`{"events":[{"eventName":"held","user":{"userID":"u"}}`)); err != nil {
		t.Fatal(err)
	}
	var second answer
	waitUntil(t, 5*time.Second, func() bool {
		second = do(t, post(t, in.URL+"/v1/log_event", []byte(`{"events":[{"eventName":"x","user":{"userID":"u"}}]}`), nil))
		return second.Code == http.StatusServiceUnavailable
	})
	if second.Header.Get("Retry-After") == "" || !strings.Contains(second.Raw, "busy") {
		t.Errorf("second request: %d %q, Retry-After %q", second.Code, second.Raw, second.Header.Get("Retry-After"))
	}
	pw.Write([]byte(`]}`))
	pw.Close()
	if code := <-done; code != http.StatusAccepted {
		t.Fatalf("the request in hand: %d", code)
	}
	if third := do(t, post(t, in.URL+"/v1/log_event", []byte(`{"events":[{"eventName":"y","user":{"userID":"u"}}]}`), nil)); third.Code != http.StatusAccepted {
		t.Fatalf("after the slot is free: %d %s", third.Code, third.Raw)
	}
}

func waitUntil(t testing.TB, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
