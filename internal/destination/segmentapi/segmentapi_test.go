package segmentapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/destination/desttest"
	"github.com/statsig-bridge/statsig-bridge/internal/destination/segmentapi"
	"github.com/statsig-bridge/statsig-bridge/internal/segment"
)

// receivedRequest is what the test endpoint saw.
type receivedRequest struct {
	Method, Path, Auth, ContentType, ContentEncoding, UserAgent string
	Body                                                        []byte
}

// endpoint is a Segment-compatible test server that records requests and
// answers with respond (200 when nil).
type endpoint struct {
	*httptest.Server
	mu      sync.Mutex
	got     []receivedRequest
	respond func(w http.ResponseWriter)
}

func newEndpoint(t *testing.T, respond func(w http.ResponseWriter)) *endpoint {
	e := &endpoint{respond: respond}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err == nil {
				body, _ = io.ReadAll(zr)
			}
		}
		e.mu.Lock()
		e.got = append(e.got, receivedRequest{
			Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"), ContentType: r.Header.Get("Content-Type"),
			ContentEncoding: r.Header.Get("Content-Encoding"), UserAgent: r.Header.Get("User-Agent"), Body: body,
		})
		e.mu.Unlock()
		if e.respond != nil {
			e.respond(w)
			return
		}
		_, _ = w.Write([]byte(`{"success":true}`))
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *endpoint) requests() []receivedRequest {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]receivedRequest(nil), e.got...)
}

var testItems = [][]byte{
	[]byte(`{"type":"track","event":"a","userId":"u","messageId":"1"}`),
	[]byte(`{"type":"track","event":"b","userId":"u","messageId":"2"}`),
}

func TestWriteSendsBasicAuthWithEmptyPassword(t *testing.T) {
	ep := newEndpoint(t, nil)
	w := segmentapi.New(segmentapi.Config{Endpoint: ep.URL, WriteKey: "abc123", UserAgent: "statsig-bridge/test"})
	if err := w.Write(context.Background(), testItems); err != nil {
		t.Fatal(err)
	}
	got := ep.requests()
	if len(got) != 1 {
		t.Fatalf("%d requests", len(got))
	}
	r := got[0]
	if r.Auth != "Basic YWJjMTIzOg==" {
		t.Errorf("Authorization = %q, want %q (base64 of \"abc123:\")", r.Auth, "Basic YWJjMTIzOg==")
	}
	// Segment conformance check 1: POST <endpoint>/v1/batch, JSON.
	if r.Method != http.MethodPost || r.Path != "/v1/batch" || r.ContentType != "application/json" || r.UserAgent != "statsig-bridge/test" || r.ContentEncoding != "" {
		t.Errorf("method %q path %q content type %q user agent %q encoding %q", r.Method, r.Path, r.ContentType, r.UserAgent, r.ContentEncoding)
	}
	var body struct {
		Batch  []map[string]any `json:"batch"`
		SentAt string           `json:"sentAt"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, r.Body)
	}
	if len(body.Batch) != 2 || body.Batch[1]["event"] != "b" {
		t.Errorf("batch = %v", body.Batch)
	}
	// Segment conformance checks 15 and 17: the envelope is the batch and
	// sentAt only, no receivedAt (Segment's own clock) and no batch-level
	// context that Segment would merge over each message's.
	var top map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &top); err != nil || len(top) != 2 || top["batch"] == nil || top["sentAt"] == nil {
		t.Errorf("envelope keys %v, want batch and sentAt only", slices.Sorted(maps.Keys(top)))
	}
}

func TestWriteGzip(t *testing.T) {
	ep := newEndpoint(t, nil)
	if err := segmentapi.New(segmentapi.Config{Endpoint: ep.URL, WriteKey: "k", Gzip: true}).Write(context.Background(), testItems); err != nil {
		t.Fatal(err)
	}
	r := ep.requests()[0]
	if r.ContentEncoding != "gzip" || !json.Valid(r.Body) || !bytes.Contains(r.Body, testItems[1]) {
		t.Fatalf("encoding %q body %s", r.ContentEncoding, r.Body)
	}
}

// Whatever the configured form of the endpoint, one /v1/batch.
func TestWriteJoinsBatchPathOnce(t *testing.T) {
	ep := newEndpoint(t, nil)
	for _, suffix := range []string{"", "/", "/v1", "/v1/", "/v1/batch"} {
		if err := segmentapi.New(segmentapi.Config{Endpoint: ep.URL + suffix, WriteKey: "k"}).Write(context.Background(), testItems); err != nil {
			t.Fatalf("%q: %v", suffix, err)
		}
	}
	for i, r := range ep.requests() {
		if r.Path != "/v1/batch" {
			t.Errorf("request %d went to %q", i, r.Path)
		}
	}
}

// TestAnswers: each row of the Tracking API's status table, over HTTP.
func TestAnswers(t *testing.T) {
	desttest.CheckAnswers(t, segmentapi.Answers, map[string]desttest.Row{
		"2xx": {Code: 200, Want: "ok"},
		"400": {Code: 400, Want: "permanent"},
		"413": {Code: 413, Want: "permanent"},
		"401": {Code: 401, Want: "auth"},
		"403": {Code: 403, Want: "auth"},
		"408": {Code: 408, Want: "backoff"},
		"429": {Code: 429, Want: "backoff"},
		"5xx": {Code: 503, Want: "backoff"},
		"4xx": {Code: 404, Want: "permanent"},
	}, `{"error":"echo wk-secret-0123456789"}`, []string{"wk-secret-0123456789"}, func(ctx context.Context, url string) error {
		return segmentapi.New(segmentapi.Config{Endpoint: url, WriteKey: "wk-secret-0123456789"}).Write(ctx, testItems)
	})
}

// TestWriteWaitsForTheLargerRateLimitHeader: Segment's 429 carries
// Retry-After and X-RateLimit-Reset; the larger wins (check 21), and a 5xx
// without either is retried with the Runner's own backoff.
func TestWriteWaitsForTheLargerRateLimitHeader(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		code               int
		retryAfter, reset  string
		want               time.Duration
		transientWithoutIt bool
	}{
		{429, "5", "20", 20 * time.Second, false},
		{429, "50", "20", 50 * time.Second, false},
		{429, "", strconv.FormatInt(now.Add(45*time.Second).Unix(), 10), 45 * time.Second, false},
		{500, "", "", 0, true},
	} {
		ep := newEndpoint(t, func(w http.ResponseWriter) {
			if tc.retryAfter != "" {
				w.Header().Set("Retry-After", tc.retryAfter)
			}
			if tc.reset != "" {
				w.Header().Set("X-RateLimit-Reset", tc.reset)
			}
			w.WriteHeader(tc.code)
		})
		err := segmentapi.New(segmentapi.Config{Endpoint: ep.URL, WriteKey: "k", Now: func() time.Time { return now }}).Write(context.Background(), testItems)
		var bo *destination.BackOffError
		switch {
		case tc.transientWithoutIt:
			if desttest.Class(err) != "transient" {
				t.Errorf("HTTP %d without Retry-After: %v, want a plain retry", tc.code, err)
			}
		case !errors.As(err, &bo) || bo.Wait != tc.want:
			t.Errorf("HTTP %d Retry-After %q X-RateLimit-Reset %q: %v, want a wait of %s", tc.code, tc.retryAfter, tc.reset, err, tc.want)
		}
	}
}

// TestErrorsNameNoCredentials: the write key (in Basic auth's base64 too)
// and the endpoint's path and query token never reach an error.
func TestErrorsNameNoCredentials(t *testing.T) {
	const key = "wk-live-abcdef123456"
	basic := "Basic " + "d2stbGl2ZS1hYmNkZWYxMjM0NTY6" // base64 of key + ":"
	ep := newEndpoint(t, func(w http.ResponseWriter) {
		w.WriteHeader(400)
		_, _ = w.Write([]byte(`{"error":"bad key ` + key + `", "auth":"` + basic + `"}`))
	})
	host := strings.TrimPrefix(ep.URL, "http://")
	w := segmentapi.New(segmentapi.Config{Endpoint: "http://proxyuser:proxypass@" + host + "/tok-path-987?token=qtoken-654", WriteKey: key})
	errs := []error{w.Write(context.Background(), testItems)}
	ep.Close()
	errs = append(errs, w.Write(context.Background(), testItems)) // connection refused
	for _, err := range errs {
		if err == nil {
			t.Fatal("no error")
		}
		for _, secret := range []string{key, "d2stbGl2ZS1hYmNkZWYxMjM0NTY6", "proxyuser", "proxypass", "tok-path-987", "qtoken-654"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q contains %q", err, secret)
			}
		}
		if !strings.Contains(err.Error(), "segment (http://"+host+")") {
			t.Errorf("error %q does not name the endpoint's host", err)
		}
	}
}

// sentAt is the clock of each attempt: Segment corrects event times by
// receivedAt − sentAt, so a retry must not reuse the first attempt's.
func TestWriteSetsSentAtPerAttempt(t *testing.T) {
	var mu sync.Mutex
	clock := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return clock
	}
	ep := newEndpoint(t, nil)
	w := segmentapi.New(segmentapi.Config{Endpoint: ep.URL, WriteKey: "k", Now: now})
	var want []string
	for i := 0; i < 3; i++ {
		want = append(want, now().UTC().Format(segment.TimeFormat))
		if err := w.Write(context.Background(), testItems); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		clock = clock.Add(90 * time.Second)
		mu.Unlock()
	}
	for i, r := range ep.requests() {
		var body struct {
			SentAt string `json:"sentAt"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		if body.SentAt != want[i] {
			t.Errorf("attempt %d: sentAt %q, want %q", i, body.SentAt, want[i])
		}
	}
}

// The writer reuses its body buffers; a body must not be overwritten while
// a concurrent write still sends it.
func TestConcurrentWritesKeepTheirBodies(t *testing.T) {
	ep := newEndpoint(t, nil)
	w := segmentapi.New(segmentapi.Config{Endpoint: ep.URL, WriteKey: "k"})
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			item := []byte(`{"type":"track","event":"e` + strconv.Itoa(i) + `","userId":"u","messageId":"` + strconv.Itoa(i) + `"}`)
			if err := w.Write(context.Background(), [][]byte{item}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, r := range ep.requests() {
		var body struct {
			Batch []struct {
				MessageID string `json:"messageId"`
			} `json:"batch"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil || len(body.Batch) != 1 {
			t.Fatalf("body %s: %v", r.Body, err)
		}
		seen[body.Batch[0].MessageID] = true
	}
	if len(seen) != 16 {
		t.Fatalf("%d distinct bodies for 16 sends", len(seen))
	}
}

// roundTripFunc answers requests without a network.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestWriteDefaultsToTheUSEndpoint (Segment conformance check 3): with no
// endpoint configured, batches go to https://api.segment.io/v1/batch.
func TestWriteDefaultsToTheUSEndpoint(t *testing.T) {
	var got string
	w := segmentapi.New(segmentapi.Config{WriteKey: "k", Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = r.Method + " " + r.URL.String()
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(`{"success":true}`)), Header: http.Header{}, Request: r}, nil
	})})
	if err := w.Write(context.Background(), testItems); err != nil {
		t.Fatal(err)
	}
	if got != "POST https://api.segment.io/v1/batch" {
		t.Errorf("request %q, want POST https://api.segment.io/v1/batch", got)
	}
}
