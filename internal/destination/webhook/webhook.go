// Package webhook is the webhook destination (Segment calls these
// "streaming destinations"): it POSTs JSON batches of mapped Segment Track
// messages to any URL, optionally signed the way Statsig signs its own
// webhook so that a receiver verifies both with the same code.
//
// The request body is the Segment /v1/batch envelope:
//
//	{"batch":[{"type":"track",…},…],"sentAt":"2026-01-02T15:04:05.000Z"}
//
// with at most MaxBatchItems messages and MaxBatchBytes bytes. Each message
// carries a deterministic messageId, so a receiver deduplicates redeliveries
// by it. The package only does I/O: sending and reading the answer are
// httpsend's; retries, backoff, bisection of refused batches and dead
// letters are the destination.Runner's.
package webhook

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/httpsend"
	"github.com/statsig-bridge/statsig-bridge/internal/segment"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// Limits of one request. Receivers are arbitrary HTTP services; 1 MB and
// 1,000 messages keep a request well under common proxy body limits
// (nginx's default is 1 MiB) and a few seconds of a slow receiver's work.
const (
	MaxBatchItems = 1000
	MaxBatchBytes = 1_000_000
	// MaxMessageBytes is the largest message: one that fits a request alone.
	MaxMessageBytes = MaxBatchBytes - segment.EnvelopeOverhead
)

// Signature headers, as Statsig's Generic Webhook sends them.
const (
	HeaderTimestamp = "X-Statsig-Request-Timestamp"
	HeaderSignature = "X-Statsig-Signature"
)

// Config configures a webhook destination.
type Config struct {
	// URL receives the batches.
	URL string
	// Secret, when not empty, signs every request: X-Statsig-Request-Timestamp
	// (Unix ms) and X-Statsig-Signature ("v0=" + hex HMAC-SHA256 of
	// "v0:<timestamp>:<body>"), see statsig.Sign.
	Secret string
	// Headers are set on every request (an Authorization header, say).
	Headers map[string]string
	// Timeout bounds one request (default 10 s).
	Timeout time.Duration
	// UserAgent identifies the bridge.
	UserAgent string
	// Now is the clock for sentAt and the signature timestamp (tests).
	Now func() time.Time
	// Transport overrides the HTTP transport (tests).
	Transport http.RoundTripper
}

// Answers is what a receiver's statuses mean. Receivers are arbitrary
// services whose URL the user writes, so the table follows HTTP's own
// meanings (httpsend.ConfiguredURLAnswers): a wrong URL (404, 405, 410)
// pauses like refused credentials instead of dead-lettering every event.
var Answers = httpsend.ConfiguredURLAnswers

// Writer posts batches to a webhook URL.
type Writer struct {
	cfg  Config
	send *httpsend.Sender
}

var _ destination.Writer = (*Writer)(nil)

// New returns a Writer. It does not connect.
func New(cfg Config) *Writer {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	// The receiver's answers may echo the request: the signing secret and
	// the header values are hidden in them, with the URL's credentials.
	secrets := []string{cfg.Secret}
	for _, v := range cfg.Headers {
		secrets = append(secrets, v)
	}
	return &Writer{cfg: cfg, send: httpsend.New(httpsend.Config{
		Name:      "webhook",
		URL:       cfg.URL,
		Secrets:   secrets,
		Answers:   Answers,
		Timeout:   cfg.Timeout,
		Transport: cfg.Transport,
		Now:       cfg.Now,
	})}
}

// Limits are the webhook's request limits.
func (w *Writer) Limits() destination.Limits {
	return destination.Limits{
		MaxItems:     MaxBatchItems,
		MaxBytes:     MaxBatchBytes,
		MaxItemBytes: MaxMessageBytes,
		Size:         segment.BatchSize,
	}
}

// Write posts one batch, signed when a secret is set, and classifies the
// answer by Answers.
func (w *Writer) Write(ctx context.Context, payloads [][]byte) error {
	now := w.cfg.Now()
	body := segment.AppendBatch(make([]byte, 0, segment.BatchSize(len(payloads), size(payloads))), payloads, now)
	h := make(http.Header, len(w.cfg.Headers)+4)
	for k, v := range w.cfg.Headers {
		h.Set(k, v)
	}
	h.Set("Content-Type", "application/json")
	if w.cfg.UserAgent != "" {
		h.Set("User-Agent", w.cfg.UserAgent)
	}
	if w.cfg.Secret != "" {
		ts := strconv.FormatInt(now.UnixMilli(), 10)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, statsig.Sign([]byte(w.cfg.Secret), ts, body))
	}
	_, err := w.send.Send(ctx, httpsend.Request{URL: w.cfg.URL, Header: h, Body: body})
	return destination.FromHTTP(err)
}

func size(payloads [][]byte) int {
	n := 0
	for _, p := range payloads {
		n += len(p)
	}
	return n
}

// Check implements destination.Checker: it connects to the URL. The
// receiver's credentials are checked by the first batch.
func (w *Writer) Check(ctx context.Context) (string, error) {
	return "connected; the receiver checks the signature and headers with the first batch", w.send.Reach(ctx)
}
