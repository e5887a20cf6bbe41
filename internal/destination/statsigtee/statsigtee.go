// Package statsigtee is the statsig destination (the "tee"): it forwards
// the original events to Statsig's event API, so that the bridge can sit in
// front of the SDKs without Statsig losing any data.
//
// Its requests are those of a Statsig server SDK (formats §1–3, the Go SDK's
// in particular): POST {api}/log_event, gzip-compressed JSON
// {"events":[…],"statsigMetadata":{…}}, authenticated by the server secret
// in STATSIG-API-KEY. The bridge reports itself as the SDK ("statsig-bridge"
// and its version): one request carries events of many SDK requests, so no
// single original SDK could be named. Each event keeps its own fields as the
// SDK sent them (see AppendEvent).
//
// The package only does I/O: retries, backoff, bisection and dead letters
// are the destination.Runner's.
package statsigtee

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/destination"
)

// DefaultAPI is Statsig's event API base.
const DefaultAPI = "https://events.statsigapi.net/v1"

// SDKType is what the tee reports as its SDK type.
const SDKType = "statsig-bridge"

// Limits of one request. The Go server SDK flushes at 1,000 events; 1 MB of
// JSON before gzip is about 1,000 exposures of 1 KB.
const (
	MaxBatchEvents = 1000
	MaxBatchBytes  = 1_000_000
	// MaxEventBytes is the largest event: one that fits a request alone.
	MaxEventBytes = MaxBatchBytes - 512
)

// Config configures the tee.
type Config struct {
	// API is the event API base; requests go to API + "/log_event".
	API string
	// ServerSecret is the project's server secret key.
	ServerSecret string
	// Timeout bounds one request (default 10 s).
	Timeout time.Duration
	// Version is the bridge's version, reported as the SDK version.
	Version string
	// Now is the clock for STATSIG-CLIENT-TIME (tests).
	Now func() time.Time
	// Transport overrides the HTTP transport (tests).
	Transport http.RoundTripper
}

// Writer posts batches of events to Statsig.
type Writer struct {
	cfg      Config
	http     *http.Client
	endpoint string
	target   string // scheme and host, for errors
	// envelopeTail closes the events array and carries the request-level
	// statsigMetadata, the same for every request of this process.
	envelopeTail []byte
	sessionID    string
	langVersion  string
	// redact hides the server secret and the API URL's credentials in
	// Statsig's answers, which may echo the request.
	redact *destination.Redactor
}

var _ destination.Writer = (*Writer)(nil)

// New returns a Writer. It does not connect.
func New(cfg Config) *Writer {
	if cfg.API == "" {
		cfg.API = DefaultAPI
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	tr := cfg.Transport
	if tr == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		tr = t
	}
	w := &Writer{
		cfg:         cfg,
		http:        &http.Client{Timeout: cfg.Timeout, Transport: tr},
		endpoint:    LogEventURL(cfg.API),
		target:      redact(cfg.API),
		sessionID:   newSessionID(),
		langVersion: strings.TrimPrefix(runtime.Version(), "go"),
		redact:      destination.NewRedactor(append(destination.URLSecrets(cfg.API), cfg.ServerSecret)...),
	}
	meta, _ := json.Marshal(map[string]string{
		"sdkType":         SDKType,
		"sdkVersion":      cfg.Version,
		"languageVersion": w.langVersion,
		"sessionID":       w.sessionID,
	})
	w.envelopeTail = append(append([]byte(`],"statsigMetadata":`), meta...), '}')
	return w
}

// LogEventURL returns {api}/log_event for an API base (a base that already
// ends in /log_event is kept).
func LogEventURL(api string) string {
	base, query, hasQuery := strings.Cut(api, "?")
	base = strings.TrimRight(base, "/")
	base = strings.TrimSuffix(base, "/log_event")
	u := base + "/log_event"
	if hasQuery {
		u += "?" + query
	}
	return u
}

// Limits are the tee's request limits.
func (w *Writer) Limits() destination.Limits {
	overhead := len(`{"events":[`) + len(w.envelopeTail)
	return destination.Limits{
		MaxItems:     MaxBatchEvents,
		MaxBytes:     MaxBatchBytes,
		MaxItemBytes: MaxEventBytes,
		Size: func(n, itemBytes int) int {
			if n == 0 {
				return overhead
			}
			return overhead + itemBytes + n - 1
		},
	}
}

// Write posts one batch of events (each from AppendEvent) and classifies
// Statsig's answer: 2xx with {"success":true} (or no JSON) delivered; a 2xx
// saying "success":false, 408, 429 and 5xx retried (after Retry-After when
// given); 401/403 the secret refused (the destination pauses); 400 and 413
// refuse the batch (the Runner bisects it down to the events refused and
// dead-letters those). Other 4xx (404 from a wrong api base, say) are
// retried rather than dead-lettering every event over a configuration
// mistake: the log keeps them until it is fixed.
func (w *Writer) Write(ctx context.Context, payloads [][]byte) error {
	var zb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&zb, gzip.DefaultCompression)
	_, _ = zw.Write([]byte(`{"events":[`))
	for i, p := range payloads {
		if i > 0 {
			_, _ = zw.Write([]byte{','})
		}
		_, _ = zw.Write(p)
	}
	_, _ = zw.Write(w.envelopeTail)
	if err := zw.Close(); err != nil {
		return fmt.Errorf("compressing the log_event request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.endpoint, bytes.NewReader(zb.Bytes()))
	if err != nil {
		// Retried, not refused: the events wait in the log until it is fixed.
		return fmt.Errorf("building the log_event request to %s: invalid api URL", w.target)
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("Content-Encoding", "gzip")
	h.Set("STATSIG-API-KEY", w.cfg.ServerSecret)
	// The time of this attempt: Statsig corrects event times by the
	// difference between it and the arrival.
	h.Set("STATSIG-CLIENT-TIME", strconv.FormatInt(w.cfg.Now().UnixMilli(), 10))
	h.Set("STATSIG-EVENT-COUNT", strconv.Itoa(len(payloads)))
	h.Set("STATSIG-SDK-TYPE", SDKType)
	h.Set("STATSIG-SDK-VERSION", w.cfg.Version)
	h.Set("STATSIG-SDK-LANGUAGE-VERSION", w.langVersion)
	h.Set("STATSIG-SERVER-SESSION-ID", w.sessionID)
	h.Set("User-Agent", SDKType+"/"+w.cfg.Version)
	resp, err := w.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text repeats the URL
		}
		return fmt.Errorf("posting to %s: %w", w.target, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	se := &StatusError{Code: resp.StatusCode, Body: w.redact.Redact(strings.TrimSpace(string(snippet))), Target: w.target}
	if resp.StatusCode/100 == 2 {
		var ans struct {
			Success *bool `json:"success"`
		}
		if json.Unmarshal(snippet, &ans) == nil && ans.Success != nil && !*ans.Success {
			return se // accepted by HTTP, refused by Statsig: the SDKs resend it
		}
		return nil
	}
	wait := destination.RetryAfter(resp.Header, w.cfg.Now())
	switch c := resp.StatusCode; {
	case c == http.StatusUnauthorized || c == http.StatusForbidden:
		return &destination.AuthError{Err: se}
	case c == http.StatusBadRequest || c == http.StatusRequestEntityTooLarge:
		return &destination.PermanentError{Err: se, Status: se.Code, Response: se.Body}
	case wait > 0:
		return &destination.BackOffError{Wait: wait, Err: se}
	}
	return se
}

// StatusError is an answer of Statsig's other than success.
type StatusError struct {
	Code   int
	Body   string
	Target string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("statsig (%s) answered HTTP %d", e.Target, e.Code)
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// StatusCode returns the HTTP status (the Runner's error metrics use it).
func (e *StatusError) StatusCode() int { return e.Code }

// redact keeps a URL's scheme and host.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "the statsig api URL"
	}
	return u.Scheme + "://" + u.Host
}

// newSessionID returns a random version-4 UUID, as the SDKs' session IDs.
func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
