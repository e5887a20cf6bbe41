// Package segmentapi is the Segment destination: it posts batches of Track
// messages to the HTTP Tracking API of any region, or to any
// Segment-compatible endpoint (RudderStack, Jitsu, …).
package segmentapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/segment"
)

// Config configures the Segment destination.
type Config struct {
	// Endpoint is the API base URL (default https://api.segment.io; EU
	// workspaces https://events.eu1.segmentapis.com).
	Endpoint string
	// WriteKey is the source's write key (a secret).
	WriteKey string
	// Gzip compresses request bodies.
	Gzip bool
	// Timeout bounds one request (default 10 s, as analytics-go).
	Timeout time.Duration
	// UserAgent identifies the bridge.
	UserAgent string
	// Transport overrides the HTTP transport (tests).
	Transport http.RoundTripper
}

// Writer delivers batches to Segment.
type Writer struct {
	client *segment.Client
	// redact hides the write key (in Basic auth's base64 too) and the
	// endpoint's credentials in answers, which may echo the request.
	redact *destination.Redactor
}

var _ destination.Writer = (*Writer)(nil)

// New returns a Writer.
func New(cfg Config) *Writer {
	if cfg.Endpoint == "" {
		cfg.Endpoint = segment.EndpointUS
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	tr := cfg.Transport
	if tr == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		tr = t
	}
	return &Writer{client: &segment.Client{
		Endpoint:  cfg.Endpoint,
		WriteKey:  cfg.WriteKey,
		Gzip:      cfg.Gzip,
		UserAgent: cfg.UserAgent,
		HTTP:      &http.Client{Timeout: cfg.Timeout, Transport: tr},
	}, redact: destination.NewRedactor(append(destination.URLSecrets(cfg.Endpoint), cfg.WriteKey)...)}
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

// Write posts one batch and classifies the answer for the Runner.
func (w *Writer) Write(ctx context.Context, payloads [][]byte) error {
	err := w.client.Send(ctx, payloads)
	var se *segment.StatusError
	if !errors.As(err, &se) {
		return err // nil, or a network error: transient
	}
	se.Body = w.redact.Redact(se.Body)
	switch {
	case se.Unauthorized():
		return &destination.AuthError{Err: se}
	case se.Code == http.StatusBadRequest || se.Code == http.StatusRequestEntityTooLarge:
		return &destination.PermanentError{Err: se, Status: se.Code, Response: se.Body}
	case se.RetryAfter > 0:
		return &destination.BackOffError{Wait: se.RetryAfter, Err: se}
	case se.Retryable():
		return se
	}
	// Other 4xx (404, 422, …): undocumented for the Tracking API; the same
	// bytes will not succeed, so treat them like 400.
	return &destination.PermanentError{Err: se, Status: se.Code, Response: se.Body}
}
