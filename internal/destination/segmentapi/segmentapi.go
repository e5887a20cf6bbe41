// Package segmentapi is the Segment destination: it posts batches of Track
// messages to the HTTP Tracking API of any region, or to any
// Segment-compatible endpoint (RudderStack, Jitsu, …).
//
// It only does I/O: what a request holds is package segment's, sending it
// and reading the answer httpsend's, retries, backoff, bisection and dead
// letters the destination.Runner's.
package segmentapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/httpsend"
	"github.com/statsig-bridge/statsig-bridge/internal/segment"
)

// Answers is what the Tracking API's statuses mean (segment-reference
// §1.5, §1.6; conformance checks 19–23):
//   - 2xx: accepted. Per-event drops show only in Segment's own views.
//   - 400 (invalid JSON, too large) and 413: never resend the same bytes;
//     the batch is bisected to the messages refused on their own, which are
//     dead-lettered with Segment's answer (check 20; analytics-go retries
//     them, a deliberate difference).
//   - 401/403: the write key is refused; undocumented for the Tracking API,
//     but dead-lettering every event over a revoked key would lose the
//     backlog the log exists to keep, so the destination pauses.
//   - 408, 429 and 5xx: transient; retried with backoff, and no sooner
//     than Retry-After or X-RateLimit-Reset, the larger (check 21).
//   - other 4xx: undocumented for the Tracking API; the same bytes will
//     not succeed, so they are refused like 400 (§1.5's advice).
var Answers = httpsend.Table{
	"2xx": httpsend.Accept,
	"400": httpsend.Refuse,
	"413": httpsend.Refuse,
	"401": httpsend.Pause,
	"403": httpsend.Pause,
	"408": httpsend.BackOff,
	"429": httpsend.BackOff,
	"5xx": httpsend.BackOff,
	"4xx": httpsend.Refuse,
}

// Config configures the Segment destination.
type Config struct {
	// Endpoint is the API base URL (default https://api.segment.io; EU
	// workspaces https://events.eu1.segmentapis.com).
	Endpoint string
	// WriteKey is the source's write key (a secret).
	WriteKey string
	// Gzip compresses request bodies (limits apply to the uncompressed JSON).
	Gzip bool
	// Timeout bounds one request (default 10 s, as analytics-go).
	Timeout time.Duration
	// UserAgent identifies the bridge.
	UserAgent string
	// Now is the clock for sentAt (tests); time.Now when nil.
	Now func() time.Time
	// Transport overrides the HTTP transport (tests).
	Transport http.RoundTripper
}

// Writer delivers batches to Segment.
type Writer struct {
	cfg    Config
	url    string
	header http.Header
	send   *httpsend.Sender
	// bufs keeps batch bodies for reuse: a body is returned only once the
	// transport has closed it, so a concurrent send never sees it change.
	bufs sync.Pool
}

var _ destination.Writer = (*Writer)(nil)

// New returns a Writer. It does not connect.
func New(cfg Config) *Writer {
	if cfg.Endpoint == "" {
		cfg.Endpoint = segment.EndpointUS
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	// HTTP Basic with the write key as user and an empty password.
	h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(cfg.WriteKey+":")))
	if cfg.UserAgent != "" {
		h.Set("User-Agent", cfg.UserAgent)
	}
	if cfg.Gzip {
		h.Set("Content-Encoding", "gzip")
	}
	return &Writer{cfg: cfg, url: segment.URL(cfg.Endpoint), header: h, send: httpsend.New(httpsend.Config{
		Name:      "segment",
		URL:       cfg.Endpoint,
		Secrets:   []string{cfg.WriteKey}, // in Basic auth's base64 too
		Answers:   Answers,
		Timeout:   cfg.Timeout,
		Transport: cfg.Transport,
		Now:       cfg.Now,
	})}
}

// Limits are Segment's: 2,500 messages, 500 KB a request, 32 KB a message.
func (w *Writer) Limits() destination.Limits {
	return destination.Limits{
		MaxItems:     segment.MaxBatchItems,
		MaxBytes:     segment.MaxBatchBytes,
		MaxItemBytes: segment.MaxMessageBytes,
		Size:         segment.BatchSize,
	}
}

// Write posts one batch as a /v1/batch request, sentAt the time of this
// attempt, and classifies the answer by Answers.
func (w *Writer) Write(ctx context.Context, payloads [][]byte) error {
	bp, _ := w.bufs.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, 0, 64<<10)
		bp = &b
	}
	raw := segment.AppendBatch((*bp)[:0], payloads, w.cfg.Now())
	release := func() {
		if cap(raw) <= 2*segment.MaxBatchBytes {
			*bp = raw[:0]
			w.bufs.Put(bp)
		}
	}
	req := httpsend.Request{URL: w.url, Header: w.header, Body: raw, Released: release}
	if w.cfg.Gzip {
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		_, _ = zw.Write(raw) // a bytes.Buffer does not fail
		_ = zw.Close()
		release()
		req.Body, req.Released = zb.Bytes(), nil
	}
	_, err := w.send.Send(ctx, req)
	return destination.FromHTTP(err)
}

// Check implements destination.Checker: it connects to the endpoint. A
// write key cannot be checked without sending an event to the source.
func (w *Writer) Check(ctx context.Context) (string, error) {
	return "connected; Segment has no way to check a write key without sending an event: a wrong one shows as a 401 on the first batch, and the destination pauses", w.send.Reach(ctx)
}
