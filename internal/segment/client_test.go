package segment_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/segment"
)

// receivedRequest is what the test endpoint saw.
type receivedRequest struct {
	Path, Auth, ContentType, ContentEncoding, UserAgent string
	Body                                                []byte
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
			Path: r.URL.Path, Auth: r.Header.Get("Authorization"), ContentType: r.Header.Get("Content-Type"),
			ContentEncoding: r.Header.Get("Content-Encoding"), UserAgent: r.Header.Get("User-Agent"), Body: body,
		})
		e.mu.Unlock()
		if e.respond != nil {
			e.respond(w)
			return
		}
		w.Write([]byte(`{"success":true}`))
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

func TestClientSendsBasicAuthWithEmptyPassword(t *testing.T) {
	ep := newEndpoint(t, nil)
	c := &segment.Client{Endpoint: ep.URL, WriteKey: "abc123", HTTP: ep.Client(), UserAgent: "statsig-bridge/test"}
	if err := c.Send(context.Background(), testItems); err != nil {
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
	if r.Path != "/v1/batch" || r.ContentType != "application/json" || r.UserAgent != "statsig-bridge/test" {
		t.Errorf("path %q content type %q user agent %q", r.Path, r.ContentType, r.UserAgent)
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
}

func TestClientGzip(t *testing.T) {
	ep := newEndpoint(t, nil)
	c := &segment.Client{Endpoint: ep.URL, WriteKey: "k", HTTP: ep.Client(), Gzip: true}
	if err := c.Send(context.Background(), testItems); err != nil {
		t.Fatal(err)
	}
	r := ep.requests()[0]
	if r.ContentEncoding != "gzip" || !json.Valid(r.Body) || !bytes.Contains(r.Body, testItems[1]) {
		t.Fatalf("encoding %q body %s", r.ContentEncoding, r.Body)
	}
}

func TestURLJoinsBatchPathOnce(t *testing.T) {
	for base, want := range map[string]string{
		"https://api.segment.io":                  "https://api.segment.io/v1/batch",
		"https://api.segment.io/":                 "https://api.segment.io/v1/batch",
		"https://api.segment.io/v1":               "https://api.segment.io/v1/batch",
		"https://api.segment.io/v1/":              "https://api.segment.io/v1/batch",
		"https://api.segment.io/v1/batch":         "https://api.segment.io/v1/batch",
		"https://api.segment.io/v1/batch/":        "https://api.segment.io/v1/batch",
		"https://events.eu1.segmentapis.com":      "https://events.eu1.segmentapis.com/v1/batch",
		"http://127.0.0.1:9000/proxy":             "http://127.0.0.1:9000/proxy/v1/batch",
		"http://127.0.0.1:9000/proxy/v1/batch":    "http://127.0.0.1:9000/proxy/v1/batch",
		"http://127.0.0.1:9000/proxy/v1/batch///": "http://127.0.0.1:9000/proxy/v1/batch",
		// A proxy's token in the query stays in the query.
		"https://proxy.example.com/v1?token=t0k":       "https://proxy.example.com/v1/batch?token=t0k",
		"https://proxy.example.com/?token=t0k":         "https://proxy.example.com/v1/batch?token=t0k",
		"https://proxy.example.com/v1/batch?token=t0k": "https://proxy.example.com/v1/batch?token=t0k",
	} {
		if got := segment.URL(base); got != want {
			t.Errorf("URL(%q) = %q, want %q", base, got, want)
		}
	}
	// And over the wire: whatever the configured form, one /v1/batch.
	ep := newEndpoint(t, nil)
	for _, suffix := range []string{"", "/", "/v1", "/v1/", "/v1/batch"} {
		c := &segment.Client{Endpoint: ep.URL + suffix, WriteKey: "k", HTTP: ep.Client()}
		if err := c.Send(context.Background(), testItems); err != nil {
			t.Fatalf("%q: %v", suffix, err)
		}
	}
	for i, r := range ep.requests() {
		if r.Path != "/v1/batch" {
			t.Errorf("request %d went to %q", i, r.Path)
		}
	}
}

func TestClientReportsRetryAfter(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name    string
		code    int
		headers map[string]string
		want    time.Duration
	}{
		{"seconds", 429, map[string]string{"Retry-After": "7"}, 7 * time.Second},
		{"fractional seconds", 429, map[string]string{"Retry-After": "1.5"}, 1500 * time.Millisecond},
		{"HTTP date", 503, map[string]string{"Retry-After": now.Add(30 * time.Second).Format(http.TimeFormat)}, 30 * time.Second},
		{"HTTP date in the past", 503, map[string]string{"Retry-After": now.Add(-time.Minute).Format(http.TimeFormat)}, 0},
		{"X-RateLimit-Reset seconds", 429, map[string]string{"X-RateLimit-Reset": "12"}, 12 * time.Second},
		{"X-RateLimit-Reset epoch", 429, map[string]string{"X-RateLimit-Reset": strconv.FormatInt(now.Add(45*time.Second).Unix(), 10)}, 45 * time.Second},
		{"larger wins: reset", 429, map[string]string{"Retry-After": "5", "X-RateLimit-Reset": "20"}, 20 * time.Second},
		{"larger wins: retry-after", 429, map[string]string{"Retry-After": "50", "X-RateLimit-Reset": "20"}, 50 * time.Second},
		{"larger wins: date vs epoch", 429, map[string]string{
			"Retry-After":       now.Add(10 * time.Second).Format(http.TimeFormat),
			"X-RateLimit-Reset": strconv.FormatInt(now.Add(3*time.Second).Unix(), 10),
		}, 10 * time.Second},
		{"garbage ignored", 429, map[string]string{"Retry-After": "soon", "X-RateLimit-Reset": "-3"}, 0},
		{"none", 500, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := newEndpoint(t, func(w http.ResponseWriter) {
				for k, v := range tt.headers {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.code)
				w.Write([]byte(`{"error":"slow down"}`))
			})
			c := &segment.Client{Endpoint: ep.URL, WriteKey: "k", HTTP: ep.Client(), Now: func() time.Time { return now }}
			err := c.Send(context.Background(), testItems)
			var se *segment.StatusError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *StatusError", err)
			}
			if se.Code != tt.code || se.RetryAfter != tt.want {
				t.Fatalf("code %d RetryAfter %s, want %d %s", se.Code, se.RetryAfter, tt.code, tt.want)
			}
			if !se.Retryable() || se.Body != `{"error":"slow down"}` {
				t.Fatalf("retryable %v body %q", se.Retryable(), se.Body)
			}
		})
	}
}

func TestStatusErrorClasses(t *testing.T) {
	for code, want := range map[int][2]bool{ // retryable, unauthorized
		400: {false, false}, 401: {false, true}, 403: {false, true}, 404: {false, false},
		408: {true, false}, 413: {false, false}, 429: {true, false}, 500: {true, false}, 502: {true, false}, 503: {true, false},
	} {
		e := &segment.StatusError{Code: code}
		if e.Retryable() != want[0] || e.Unauthorized() != want[1] {
			t.Errorf("%d: retryable %v unauthorized %v, want %v", code, e.Retryable(), e.Unauthorized(), want)
		}
	}
}

func TestBatchSizeIsTheBodySize(t *testing.T) {
	sentAt := time.Date(2030, 1, 2, 3, 4, 5, 678e6, time.UTC)
	for n := 0; n <= 5; n++ {
		var items [][]byte
		total := 0
		for i := 0; i < n; i++ {
			it := bytes.Repeat([]byte("x"), 10+i)
			it = append(append([]byte(`"`), it...), '"')
			items = append(items, it)
			total += len(it)
		}
		body := segment.AppendBatch(nil, items, sentAt)
		if got := segment.BatchSize(n, total); got != len(body) {
			t.Errorf("%d items: BatchSize = %d, body is %d bytes (%s)", n, got, len(body), body)
		}
		if !json.Valid(body) {
			t.Errorf("%d items: body is not JSON: %s", n, body)
		}
	}
	if segment.EnvelopeOverhead != len(segment.AppendBatch(nil, nil, sentAt)) {
		t.Errorf("EnvelopeOverhead = %d", segment.EnvelopeOverhead)
	}
}

// sentAt is the clock of each attempt: Segment corrects event times by
// receivedAt − sentAt, so a retry must not reuse the first attempt's.
func TestClientSetsSentAtPerAttempt(t *testing.T) {
	var mu sync.Mutex
	clock := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return clock
	}
	ep := newEndpoint(t, nil)
	c := &segment.Client{Endpoint: ep.URL, WriteKey: "k", HTTP: ep.Client(), Now: now}
	var want []string
	for i := 0; i < 3; i++ {
		want = append(want, now().UTC().Format(segment.TimeFormat))
		if err := c.Send(context.Background(), testItems); err != nil {
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

// The client reuses its body buffer; a body must not be overwritten while a
// concurrent send still uses it.
func TestClientConcurrentSendsKeepTheirBodies(t *testing.T) {
	ep := newEndpoint(t, nil)
	c := &segment.Client{Endpoint: ep.URL, WriteKey: "k", HTTP: ep.Client()}
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			item := []byte(`{"type":"track","event":"e` + strconv.Itoa(i) + `","userId":"u","messageId":"` + strconv.Itoa(i) + `"}`)
			if err := c.Send(context.Background(), [][]byte{item}); err != nil {
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
