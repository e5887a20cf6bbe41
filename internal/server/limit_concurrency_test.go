package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/statsig-bridge/statsig-bridge/internal/queue"
	"github.com/statsig-bridge/statsig-bridge/internal/server"
	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// gatedLog is the real log whose Publish waits for the gate: a request
// holds its intake slot while it waits.
type gatedLog struct {
	*queue.Log
	entered chan struct{}
	gate    chan struct{}
}

func (g *gatedLog) Store(ctx context.Context, data []byte, msgID string) (queue.Stored, error) {
	g.entered <- struct{}{}
	<-g.gate
	return g.Log.Store(ctx, data, msgID)
}

// TestIntakeBoundsConcurrentRequests: past max_concurrent_requests being
// decoded and stored, the intake answers 503 with Retry-After instead of
// holding more bodies in memory; the request in hand still completes.
func TestIntakeBoundsConcurrentRequests(t *testing.T) {
	g := &gatedLog{Log: openLog(t, queue.Config{}), entered: make(chan struct{}, 1), gate: make(chan struct{})}
	srv := server.New(server.Config{AllowAnyKey: true, MaxConcurrent: 1, StoreTimeout: 30 * time.Second}, g, prometheus.NewRegistry(), testLogger())
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	done := make(chan int, 1)
	go func() {
		resp, err := http.Post(ts.URL+"/v1/log_event", "application/json", strings.NewReader(`{"events":[{"eventName":"held","user":{"userID":"u"}}]}`))
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-g.entered // the first request holds the only slot, waiting for the log
	second := do(t, post(t, ts.URL+"/v1/log_event", []byte(`{"events":[{"eventName":"x","user":{"userID":"u"}}]}`), nil))
	if second.Code != http.StatusServiceUnavailable || second.Header.Get("Retry-After") == "" || !strings.Contains(second.Raw, "busy") {
		t.Errorf("second request: %d %q, Retry-After %q", second.Code, second.Raw, second.Header.Get("Retry-After"))
	}
	close(g.gate)
	if code := <-done; code != http.StatusAccepted {
		t.Fatalf("the request in hand: %d", code)
	}
	go func() { <-g.entered }()
	if third := do(t, post(t, ts.URL+"/v1/log_event", []byte(`{"events":[{"eventName":"y","user":{"userID":"u"}}]}`), nil)); third.Code != http.StatusAccepted {
		t.Fatalf("after the slot is free: %d %s", third.Code, third.Raw)
	}
}

// TestIntakeSlowBodyHoldsNoSlot: a client dribbling its body holds no
// intake slot (bodies are received before a slot is taken), so with one
// slot others are still served; the slow one completes too.
func TestIntakeSlowBodyHoldsNoSlot(t *testing.T) {
	in := startIntake(t, server.Config{AllowAnyKey: true, MaxConcurrent: 1}, queue.Config{})
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.CloseWithError(io.ErrUnexpectedEOF) }) // before the server's Close waits for it
	done := trickle(t, in.URL, pr)
	if _, err := pw.Write([]byte(`{"events":[{"eventName":"held","user":{"userID":"u"}}`)); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if a := do(t, post(t, in.URL+"/v1/log_event", []byte(`{"events":[{"eventName":"x","user":{"userID":"u"}}]}`), nil)); a.Code != http.StatusAccepted {
			t.Fatalf("request %d beside a dribbling body: %d %s", i, a.Code, a.Raw)
		}
	}
	pw.Write([]byte(`]}`))
	pw.Close()
	if code := <-done; code != http.StatusAccepted {
		t.Fatalf("the dribbled request: %d", code)
	}
}

// TestIntakeBoundsBodyMemory: the bytes of bodies being received are
// bounded (max_concurrent_requests × max_body_bytes), so many clients
// sending at once cannot take unbounded memory: past it, 503 with
// Retry-After; once the body in hand is done, the bytes are free again.
func TestIntakeBoundsBodyMemory(t *testing.T) {
	in := startIntake(t, server.Config{AllowAnyKey: true, MaxConcurrent: 1, MaxBodyBytes: 10_000}, queue.Config{})
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.CloseWithError(io.ErrUnexpectedEOF) }) // before the server's Close waits for it
	done := trickle(t, in.URL, pr)
	head := []byte(`{"events":[{"eventName":"held","user":{"userID":"u"},"metadata":{"pad":"`)
	if _, err := pw.Write(append(head, bytes.Repeat([]byte("p"), 6000)...)); err != nil {
		t.Fatal(err)
	}
	// 6,000 bytes received and 5,000 more declared are over the 10,001
	// the budget holds.
	body := eventsBody("big", 1, 4900)
	var second answer
	testwait.For(t, 30*time.Second, "a request over the body budget to be answered 503", func() bool {
		second = do(t, post(t, in.URL+"/v1/log_event", body, nil))
		return second.Code == http.StatusServiceUnavailable
	})
	if second.Header.Get("Retry-After") == "" || !strings.Contains(second.Error, "busy") {
		t.Errorf("over the body budget: %d %q, Retry-After %q", second.Code, second.Raw, second.Header.Get("Retry-After"))
	}
	pw.Write([]byte(`"}}]}`))
	pw.Close()
	if code := <-done; code != http.StatusAccepted {
		t.Fatalf("the request in hand: %d", code)
	}
	if a := do(t, post(t, in.URL+"/v1/log_event", body, nil)); a.Code != http.StatusAccepted {
		t.Fatalf("after the bytes are free: %d %s", a.Code, a.Raw)
	}
}

// trickle posts body (a pipe the test writes slowly) and reports the
// answer's status (0: no answer).
func trickle(t *testing.T, url string, body io.Reader) <-chan int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/v1/log_event", body)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	return done
}

// TestInFlightGaugeCountsRequestsBeingServed: a request held in the intake
// (here waiting for the log) shows in http_requests_in_flight under its
// endpoint, and leaves it when answered.
func TestInFlightGaugeCountsRequestsBeingServed(t *testing.T) {
	g := &gatedLog{Log: openLog(t, queue.Config{}), entered: make(chan struct{}, 1), gate: make(chan struct{})}
	srv := server.New(server.Config{AllowAnyKey: true, StoreTimeout: 30 * time.Second}, g, prometheus.NewRegistry(), testLogger())
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	const series = `statsig_bridge_http_requests_in_flight{endpoint="rgstr"}`
	done := make(chan int, 1)
	go func() {
		resp, err := http.Post(ts.URL+"/v1/rgstr", "application/json", strings.NewReader(`{"events":[{"eventName":"held","user":{"userID":"u"}}]}`))
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-g.entered
	if v := metricValue(t, scrape(t, ts.URL), series); v != 1 {
		t.Errorf("%s = %v while one request is held, want 1", series, v)
	}
	close(g.gate)
	if code := <-done; code != http.StatusAccepted {
		t.Fatalf("the held request: %d", code)
	}
	if v := metricValue(t, scrape(t, ts.URL), series); v != 0 {
		t.Errorf("%s = %v once the request is answered, want 0", series, v)
	}
}
