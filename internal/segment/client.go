package segment

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Regional endpoints of the Tracking API.
const (
	EndpointUS = "https://api.segment.io"
	EndpointEU = "https://events.eu1.segmentapis.com"
)

// Client posts batches to a Tracking API endpoint. It makes one attempt per
// call and reports the outcome; the caller owns retries.
type Client struct {
	// Endpoint is the base URL; "/v1/batch" is appended once.
	Endpoint string
	// WriteKey authenticates as HTTP Basic user with an empty password.
	WriteKey  string
	HTTP      *http.Client
	UserAgent string
	// Gzip compresses request bodies (limits apply to the uncompressed JSON).
	Gzip bool
	// Now is the clock for sentAt; time.Now when nil.
	Now func() time.Time

	bufs sync.Pool
}

// StatusError is a non-2xx answer from the endpoint.
type StatusError struct {
	Code int
	// Body is the start of the response body, for the dead-letter reason.
	Body string
	// RetryAfter is the wait the endpoint asked for (Retry-After or
	// X-RateLimit-Reset, the larger), zero if none.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("segment answered HTTP %d", e.Code)
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Retryable reports whether the same request may succeed later: 408, 429
// and 5xx. 400 (bad JSON or too large) never will.
func (e *StatusError) Retryable() bool {
	return e.Code == http.StatusTooManyRequests || e.Code == http.StatusRequestTimeout || e.Code >= 500
}

// Unauthorized reports a refused write key.
func (e *StatusError) Unauthorized() bool {
	return e.Code == http.StatusUnauthorized || e.Code == http.StatusForbidden
}

// URL returns the batch URL for an endpoint base. A query string (a proxy's
// token) stays a query string after the path.
func URL(endpoint string) string {
	e, query, hasQuery := strings.Cut(endpoint, "?")
	e = strings.TrimRight(e, "/")
	e = strings.TrimSuffix(e, "/v1/batch")
	e = strings.TrimSuffix(e, "/v1")
	if hasQuery {
		return e + "/v1/batch?" + query
	}
	return e + "/v1/batch"
}

// Send posts items (encoded Track messages) as one /v1/batch request.
func (c *Client) Send(ctx context.Context, items [][]byte) error {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	bp, _ := c.bufs.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, 0, 64<<10)
		bp = &b
	}
	raw := AppendBatch((*bp)[:0], items, now())
	var body io.ReadCloser
	size := int64(len(raw))
	reusable := &closeSignal{Reader: bytes.NewReader(raw), done: make(chan struct{})}
	if c.Gzip {
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		zw.Write(raw)
		zw.Close()
		size = int64(zb.Len())
		body = io.NopCloser(&zb)
		close(reusable.done)
	} else {
		body = reusable
	}
	defer func() {
		// The transport may close (and so stop reading) the body after Do
		// returns; only a body it has closed is safe to reuse.
		select {
		case <-reusable.done:
			if cap(raw) <= 2*MaxBatchBytes {
				*bp = raw[:0]
				c.bufs.Put(bp)
			}
		default:
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, URL(c.Endpoint), body)
	if err != nil {
		body.Close()
		// url.Parse errors quote the URL, credentials included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("building the request to %s: invalid endpoint URL: %w", redact(c.Endpoint), err)
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.WriteKey+":")))
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	if c.Gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("posting to %s: %w", redact(c.Endpoint), ue.Err)
		}
		return fmt.Errorf("posting to %s: %w", redact(c.Endpoint), err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if resp.StatusCode/100 == 2 {
		return nil
	}
	return &StatusError{
		Code:       resp.StatusCode,
		Body:       strings.TrimSpace(string(snippet)),
		RetryAfter: retryAfter(resp.Header, now()),
	}
}

// closeSignal is a request body that says when the transport is done with it.
type closeSignal struct {
	*bytes.Reader
	done chan struct{}
	once sync.Once
}

func (c *closeSignal) Close() error {
	c.once.Do(func() { close(c.done) })
	return nil
}

// MaxRetryAfter bounds the wait the endpoint may ask for: a longer one
// would overflow the caller's clock arithmetic ("1e10" seconds became a
// negative wait). The destination's retry budget dead-letters a batch
// asked to wait longer than it.
const MaxRetryAfter = 365 * 24 * time.Hour

// retryAfter reads Retry-After (seconds or an HTTP date) and
// X-RateLimit-Reset (seconds, or a Unix epoch when large) and returns the
// larger wait, at most MaxRetryAfter.
func retryAfter(h http.Header, now time.Time) time.Duration {
	// seconds converts within the bound (a float out of int64's range
	// converts to garbage).
	seconds := func(s float64) time.Duration {
		if s >= MaxRetryAfter.Seconds() {
			return MaxRetryAfter
		}
		return time.Duration(s * float64(time.Second))
	}
	var wait time.Duration
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
			wait = seconds(s)
		} else if t, err := http.ParseTime(v); err == nil {
			wait = t.Sub(now)
		}
	}
	if v := strings.TrimSpace(h.Get("X-RateLimit-Reset")); v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
			d := seconds(s)
			if s > 1e9 { // an epoch, not a delay
				d = seconds(s - float64(now.UnixNano())/1e9)
			}
			wait = max(wait, d)
		}
	}
	return min(max(wait, 0), MaxRetryAfter)
}

// redact keeps scheme and host of an endpoint: paths of Segment-compatible
// receivers sometimes carry tokens.
func redact(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return "the segment endpoint"
	}
	return u.Scheme + "://" + u.Host
}

// StatusCode returns the HTTP status.
func (e *StatusError) StatusCode() int { return e.Code }
