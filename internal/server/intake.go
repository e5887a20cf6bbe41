package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/queue"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// ImportHeader marks a request from `statsig-bridge import`.
const ImportHeader = "Statsig-Bridge-Import"

// accepted is the answer to an intake request that stored its events. A
// request with some bad events stores the good ones and answers 202 with
// the count and reasons of the rejected ones: resending the request would
// not fix them, and SDKs resend on any non-2xx (statsig-node, the Rust
// core). A request with no valid event at all is answered 400.
type accepted struct {
	Success  bool `json:"success"`
	Accepted int  `json:"accepted"`
	// Duplicate says the log held this request already (the same batch
	// within its 2-minute duplicate window, as when an SDK resends): the
	// events are stored, once, and nothing new was stored now.
	Duplicate  bool                `json:"duplicate,omitempty"`
	Rejected   int                 `json:"rejected,omitempty"`
	Rejections []statsig.Rejection `json:"rejections,omitempty"`
}

type refused struct {
	Success    bool                `json:"success"`
	Error      string              `json:"error"`
	Rejected   int                 `json:"rejected"`
	Rejections []statsig.Rejection `json:"rejections,omitempty"`
}

// maxRejectionsListed bounds the reasons echoed back in one answer.
const maxRejectionsListed = 100

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	received := s.cfg.Now()
	rb, err := s.receive(r, s.cfg.MaxBodyBytes)
	if err != nil {
		s.refuseBody(w, err)
		return
	}
	defer rb.release()
	if !s.acquire(w) {
		return
	}
	defer func() { <-s.slots }()
	body, err := rb.inflate(r.Header.Get("Content-Encoding"), r.URL.Query().Get("gz") == "1", s.cfg.MaxBodyBytes)
	if err != nil {
		s.refuseBody(w, err)
		return
	}
	s.metrics.bodyBytes.Observe(float64(len(body)))
	if len(bytes.TrimSpace(body)) == 0 {
		s.metrics.rejectedRequests.WithLabelValues("empty_body").Inc()
		writeError(w, http.StatusBadRequest, `request body is empty: expected JSON {"events":[...]}`)
		return
	}
	info := statsig.RequestInfo{
		ReceivedAt: received,
		ClientTime: clientTime(r),
		SDKKey:     sdkKey(r),
		SDKType:    firstHeaderOrQuery(r, "Statsig-Sdk-Type", "st"),
		SDKVersion: firstHeaderOrQuery(r, "Statsig-Sdk-Version", "sv"),
		SessionID:  firstHeaderOrQuery(r, "Statsig-Server-Session-Id", "sid"),
		MaxEvents:  s.cfg.MaxEvents,
	}
	batch, rejects, err := statsig.DecodeRequest(body, info)
	if err != nil {
		s.refuseBody(w, err)
		return
	}
	if r.Header.Get(ImportHeader) == "1" {
		// History loaded by `statsig-bridge import` (an authenticated
		// client): destinations may treat it apart, e.g. the Statsig tee
		// does not send Statsig what it already has.
		batch.Source = statsig.SourceImport
	}
	s.store(w, r, batch, rejects, len(body))
}

func (s *Server) handleWebhook(w http.ResponseWriter, r *http.Request) {
	received := s.cfg.Now()
	if s.cfg.WebhookSecret == "" {
		s.metrics.rejectedRequests.WithLabelValues("webhook_not_configured").Inc()
		writeError(w, http.StatusServiceUnavailable, "webhook intake is off: set STATSIG_WEBHOOK_SECRET to Statsig's webhook signing secret")
		return
	}
	rb, err := s.receive(r, s.cfg.MaxBodyBytes)
	if err != nil {
		s.refuseBody(w, err)
		return
	}
	defer rb.release()
	if err := statsig.VerifySignature([]byte(s.cfg.WebhookSecret), r.Header.Get("X-Statsig-Request-Timestamp"),
		r.Header.Get("X-Statsig-Signature"), rb.raw, received, s.cfg.WebhookTolerance); err != nil {
		s.metrics.rejectedRequests.WithLabelValues("bad_signature").Inc()
		writeError(w, http.StatusUnauthorized, err.Error())
		return
	}
	if !s.acquire(w) {
		return
	}
	defer func() { <-s.slots }()
	// The signature covers the bytes as sent; decode them only afterwards.
	body, err := rb.inflate(r.Header.Get("Content-Encoding"), false, s.cfg.MaxBodyBytes)
	if err != nil {
		s.refuseBody(w, err)
		return
	}
	batch, rejects, err := statsig.DecodeWebhook(body, received, s.cfg.MaxEvents)
	if err != nil {
		s.refuseBody(w, err)
		return
	}
	s.store(w, r, batch, rejects, len(body))
}

// refuseBody answers a request whose body is unusable as a whole.
func (s *Server) refuseBody(w http.ResponseWriter, err error) {
	code, reason := http.StatusBadRequest, "invalid_body"
	switch {
	case errors.Is(err, errBusy):
		s.metrics.rejectedRequests.WithLabelValues("too_many_concurrent_requests").Inc()
		writeRetryLater(w, time.Second, err.Error())
		return
	case errors.Is(err, errBodyTimeout):
		code, reason = http.StatusRequestTimeout, "body_timeout"
	case errors.Is(err, errTooLarge):
		code, reason = http.StatusRequestEntityTooLarge, "body_too_large"
	case errors.Is(err, statsig.ErrTooManyEvents):
		code, reason = http.StatusRequestEntityTooLarge, "too_many_events"
	case errors.Is(err, errBadEncoding):
		reason = "bad_encoding"
	}
	s.metrics.rejectedRequests.WithLabelValues(reason).Inc()
	writeError(w, code, err.Error())
}

// storePool holds buffers for the stored encoding of batches. A buffer goes
// back only after the log acked its publish: until then the NATS client may
// still send it.
var storePool sync.Pool

// maxPooledStore bounds the buffers kept in storePool.
const maxPooledStore = 2 << 20

// store appends the batch to the durable log and answers only after the log
// has stored it. bodyLen, the size of the decoded body, sizes the buffer.
func (s *Server) store(w http.ResponseWriter, r *http.Request, b *statsig.Batch, rejects []statsig.Rejection, bodyLen int) {
	if s.cfg.Activity != nil {
		s.cfg.Activity.Mark(time.Now())
	}
	for _, rj := range rejects {
		s.metrics.rejectedEvents.WithLabelValues(rj.Reason).Inc()
		if former, ok := statsig.FormerReasons[rj.Reason]; ok {
			s.metrics.rejectedEvents.WithLabelValues(former).Inc()
		}
	}
	listed := rejects
	if len(listed) > maxRejectionsListed {
		listed = listed[:maxRejectionsListed]
	}
	if len(b.Events) == 0 {
		if len(rejects) > 0 {
			writeJSON(w, http.StatusBadRequest, refused{
				Error:    fmt.Sprintf("%s: all %d events rejected", statsig.ErrNoValidEvents, len(rejects)),
				Rejected: len(rejects), Rejections: listed,
			})
			return
		}
		writeJSON(w, http.StatusAccepted, accepted{Success: true})
		return
	}
	// The binary encoding: destinations read it back by slicing instead of
	// scanning JSON. It is about the body plus each event's ID.
	bp, _ := storePool.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	if want := bodyLen + 64*len(b.Events) + 1024; cap(*bp) < want {
		*bp = make([]byte, 0, want)
	}
	data, err := b.AppendBinary((*bp)[:0])
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encoding the batch failed")
		return
	}
	start := time.Now()
	// A log that does not answer must not hold SDKs for a minute: the Go
	// SDK gives up after 3 s anyway. A store that completes after this
	// answer is deduplicated when the SDK resends (same batch ID).
	pctx, cancel := context.WithTimeout(r.Context(), s.cfg.StoreTimeout)
	stored, err := s.log.Store(pctx, data, b.ID)
	cancel()
	if err != nil {
		if errors.Is(err, queue.ErrFull) {
			s.metrics.backpressure.Inc()
			writeRetryLater(w, 5*time.Second, "the bridge's log is full: destinations are behind; retry later")
			return
		}
		if errors.Is(err, queue.ErrTooLarge) {
			s.metrics.rejectedRequests.WithLabelValues("batch_too_large").Inc()
			writeError(w, http.StatusRequestEntityTooLarge, "the batch is larger than the log accepts; send fewer events per request")
			return
		}
		if errors.Is(err, queue.ErrDiskFull) {
			// The log says so once when it starts and stops refusing.
			writeRetryLater(w, 5*time.Second, "the disk of the bridge's data dir is full: events cannot be stored until there is room; retry later")
			return
		}
		if !errors.Is(err, queue.ErrUnavailable) { // the log reports its own outages once, not per request
			s.logger.Warn("storing a batch in the log failed", "err", err)
		}
		writeRetryLater(w, time.Second, "the bridge's log is unavailable; retry later")
		return
	}
	if cap(data) <= maxPooledStore {
		*bp = data[:0]
		storePool.Put(bp)
	}
	s.metrics.publishSeconds.Observe(time.Since(start).Seconds())
	if stored.Duplicate {
		// Acknowledged (the events are in the log) but not stored again.
		s.metrics.duplicateEvents.WithLabelValues(string(b.Source)).Add(float64(len(b.Events)))
		writeJSON(w, http.StatusAccepted, accepted{Success: true, Accepted: len(b.Events), Duplicate: true, Rejected: len(rejects), Rejections: listed})
		return
	}
	s.metrics.receivedEvents.WithLabelValues(string(b.Source)).Add(float64(len(b.Events)))
	if s.observer != nil {
		s.observer.Received(b, rejects)
	}
	writeJSON(w, http.StatusAccepted, accepted{Success: true, Accepted: len(b.Events), Rejected: len(rejects), Rejections: listed})
}

// clientTime reads the client's clock at send: STATSIG-CLIENT-TIME, or the
// js-client's t= query parameter.
func clientTime(r *http.Request) int64 {
	v := firstHeaderOrQuery(r, "Statsig-Client-Time", "t")
	ms, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || ms <= 0 {
		return 0
	}
	return ms
}

func firstHeaderOrQuery(r *http.Request, header, query string) string {
	if v := r.Header.Get(header); v != "" {
		return v
	}
	return r.URL.Query().Get(query)
}
