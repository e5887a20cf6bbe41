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
// by it. The package only does I/O: retries, backoff, bisection of refused
// batches and dead letters are the destination.Runner's.
package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/destination"
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

// Writer posts batches to a webhook URL.
type Writer struct {
	cfg    Config
	http   *http.Client
	target string // the URL without credentials, path or query, for errors
	// redact hides the URL's credentials, the signing secret and the header
	// values in the receiver's answers, which may echo the request.
	redact *destination.Redactor
}

var _ destination.Writer = (*Writer)(nil)

// New returns a Writer. It does not connect.
func New(cfg Config) *Writer {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	tr := cfg.Transport
	if tr == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		tr = t
	}
	secrets := append(destination.URLSecrets(cfg.URL), cfg.Secret)
	for _, v := range cfg.Headers {
		secrets = append(secrets, v)
	}
	return &Writer{cfg: cfg, http: &http.Client{Timeout: cfg.Timeout, Transport: tr}, target: redact(cfg.URL),
		redact: destination.NewRedactor(secrets...)}
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

// Write posts one batch and classifies the answer for the Runner: 2xx
// delivered; 401/403 credentials refused (the destination pauses); 408, 429
// and 5xx retried (after Retry-After when given); any other 4xx refuses the
// batch (the Runner bisects it down to the events refused and dead-letters
// those).
func (w *Writer) Write(ctx context.Context, payloads [][]byte) error {
	now := w.cfg.Now()
	body := segment.AppendBatch(make([]byte, 0, segment.BatchSize(len(payloads), size(payloads))), payloads, now)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		// url.Parse errors quote the URL, credentials included. Retried, not
		// refused: the events wait in the log until the URL is fixed.
		return fmt.Errorf("building the webhook request to %s: invalid URL", w.target)
	}
	for k, v := range w.cfg.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	if w.cfg.UserAgent != "" {
		req.Header.Set("User-Agent", w.cfg.UserAgent)
	}
	if w.cfg.Secret != "" {
		ts := strconv.FormatInt(now.UnixMilli(), 10)
		req.Header.Set(HeaderTimestamp, ts)
		req.Header.Set(HeaderSignature, statsig.Sign([]byte(w.cfg.Secret), ts, body))
	}
	resp, err := w.http.Do(req)
	if err != nil {
		return fmt.Errorf("posting to %s: %w", w.target, unwrapURLError(err))
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if resp.StatusCode/100 == 2 {
		return nil
	}
	se := &StatusError{Code: resp.StatusCode, Body: w.redact.Redact(strings.TrimSpace(string(snippet))), Target: w.target}
	return classify(se, destination.RetryAfter(resp.Header, w.cfg.Now()))
}

// classify turns a non-2xx answer into the Runner's outcome.
func classify(se *StatusError, wait time.Duration) error {
	switch c := se.Code; {
	case c == http.StatusUnauthorized || c == http.StatusForbidden:
		return &destination.AuthError{Err: se}
	case c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500:
		if wait > 0 {
			return &destination.BackOffError{Wait: wait, Err: se}
		}
		return se
	}
	return &destination.PermanentError{Err: se, Status: se.Code, Response: se.Body}
}

// StatusError is a non-2xx answer.
type StatusError struct {
	Code int
	// Body is the start of the response body.
	Body string
	// Target is the receiver's scheme and host.
	Target string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s answered HTTP %d", e.Target, e.Code)
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// StatusCode returns the HTTP status (the Runner's error metrics use it).
func (e *StatusError) StatusCode() int { return e.Code }

func size(payloads [][]byte) int {
	n := 0
	for _, p := range payloads {
		n += len(p)
	}
	return n
}

// unwrapURLError drops the *url.Error around a transport error: its text
// repeats the full URL, with any credentials or token in it.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// redact returns a URL's scheme and host only: user info, paths and query
// strings of webhook URLs often carry tokens.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "the webhook URL"
	}
	return u.Scheme + "://" + u.Host
}
