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
// The package only does I/O: sending and reading the answer are httpsend's;
// retries, backoff, bisection and dead letters are the destination.Runner's.
package statsigtee

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/httpsend"
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

// Answers is what the event API's statuses mean: those of a URL the user
// writes (httpsend.ConfiguredURLAnswers). The SDKs retry every failure; the
// tee keeps that where the same request may succeed later, and does better
// where it may not: a wrong api URL (404, 405, 410) pauses instead of being
// retried for 24 h and then dead-lettered, and a 422 is refused (bisected,
// the events refused on their own dead-lettered) instead of retried for a
// day first. A 2xx whose JSON says "success":false is retried, as the SDKs
// do (Write checks it: accepted by HTTP, refused by Statsig).
var Answers = httpsend.ConfiguredURLAnswers

// Writer posts batches of events to Statsig.
type Writer struct {
	cfg      Config
	send     *httpsend.Sender
	endpoint string
	// envelopeTail closes the events array and carries the request-level
	// statsigMetadata, the same for every request of this process.
	envelopeTail []byte
	sessionID    string
	langVersion  string
}

var _ destination.Writer = (*Writer)(nil)

// New returns a Writer. It does not connect.
func New(cfg Config) *Writer {
	if cfg.API == "" {
		cfg.API = DefaultAPI
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	w := &Writer{
		cfg:         cfg,
		endpoint:    LogEventURL(cfg.API),
		sessionID:   newSessionID(),
		langVersion: strings.TrimPrefix(runtime.Version(), "go"),
		send: httpsend.New(httpsend.Config{
			Name:      "statsig",
			URL:       cfg.API,
			Secrets:   []string{cfg.ServerSecret},
			Answers:   Answers,
			Timeout:   cfg.Timeout,
			Transport: cfg.Transport,
			Now:       cfg.Now,
		}),
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

// Write posts one batch of events (each from AppendEvent), gzipped, and
// classifies Statsig's answer by Answers.
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
	h := make(http.Header, 10)
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
	answer, err := w.send.Send(ctx, httpsend.Request{URL: w.endpoint, Header: h, Body: zb.Bytes()})
	if err != nil {
		return destination.FromHTTP(err)
	}
	var ans struct {
		Success *bool `json:"success"`
	}
	if json.Unmarshal(answer.Body, &ans) == nil && ans.Success != nil && !*ans.Success {
		// Accepted by HTTP, refused by Statsig: the SDKs resend it.
		return &RefusedError{Target: w.send.Target(), Code: answer.Code, Body: w.send.Redact(strings.TrimSpace(string(answer.Body)))}
	}
	return nil
}

// RefusedError is a 2xx answer whose JSON says "success":false: retried.
type RefusedError struct {
	Target string
	Code   int
	Body   string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%s answered HTTP %d: %s", e.Target, e.Code, e.Body)
}

// StatusCode returns the HTTP status (the Runner's error metrics use it).
func (e *RefusedError) StatusCode() int { return e.Code }

// newSessionID returns a random version-4 UUID, as the SDKs' session IDs.
func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Check implements destination.Checker: it connects to the events API. The
// server secret is checked by the first batch.
func (w *Writer) Check(ctx context.Context) (string, error) {
	return "connected; Statsig checks the server secret with the first batch", w.send.Reach(ctx)
}
