package demo

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
)

// WriteKey is the write key the demo sink accepts.
const WriteKey = "demo-write-key"

// Sink defaults: a 5 s outage 40 s into every minute.
const (
	DefaultOutageEvery  = time.Minute
	DefaultOutageFor    = 5 * time.Second
	DefaultOutageOffset = 40 * time.Second
	// sinkKeep is how many recent messages the sink holds.
	sinkKeep = 2000
)

// Sink is a Segment-compatible receiver (POST /v1/batch, HTTP Basic auth
// with WriteKey) that fails on purpose so the Delivery view has something
// to show: it answers 503 for OutageFor at OutageOffset into every
// OutageEvery (the bridge retries), and 400 to any batch holding PoisonSKU
// (the bridge bisects the batch and dead-letters that one message).
type Sink struct {
	OutageEvery, OutageFor, OutageOffset time.Duration
	now                                  func() time.Time
	start                                time.Time

	mu     sync.Mutex
	recent []map[string]any // ring of the last sinkKeep messages
	next   int
	stats  SinkStats
}

// SinkStats counts what the sink received.
type SinkStats struct {
	Messages     int // accepted messages
	Batches      int // accepted batches
	Unavailable  int // batches answered 503 (outage)
	Refused      int // batches answered 400 (poisoned or invalid)
	Unauthorized int // requests with a wrong write key
}

// NewSink returns a sink with the default outage schedule, its clock
// started now.
func NewSink() *Sink {
	s := &Sink{OutageEvery: DefaultOutageEvery, OutageFor: DefaultOutageFor, OutageOffset: DefaultOutageOffset, now: time.Now}
	s.start = s.now()
	return s
}

// outage reports whether the sink is in one of its 503 bursts.
func (s *Sink) outage() bool {
	if s.OutageEvery <= 0 || s.OutageFor <= 0 {
		return false
	}
	pos := s.now().Sub(s.start) % s.OutageEvery
	return pos >= s.OutageOffset && pos < s.OutageOffset+s.OutageFor
}

// ServeHTTP answers like Segment's Tracking API, with the failures above.
func (s *Sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodPost || r.URL.Path != "/v1/batch" {
		answer(w, http.StatusNotFound, "the demo sink answers POST /v1/batch only")
		return
	}
	if r.Header.Get("Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte(WriteKey+":")) {
		s.count(func(st *SinkStats) { st.Unauthorized++ })
		answer(w, http.StatusUnauthorized, "wrong write key")
		return
	}
	var body io.Reader = io.LimitReader(r.Body, 1<<20)
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(body)
		if err != nil {
			s.count(func(st *SinkStats) { st.Refused++ })
			answer(w, http.StatusBadRequest, "invalid gzip body")
			return
		}
		body = io.LimitReader(zr, 1<<20)
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		s.count(func(st *SinkStats) { st.Refused++ })
		answer(w, http.StatusBadRequest, "reading the body failed")
		return
	}
	if s.outage() {
		s.count(func(st *SinkStats) { st.Unavailable++ })
		answer(w, http.StatusServiceUnavailable, "demo: the sink is down for a few seconds every minute, on purpose, so that retries show")
		return
	}
	var batch struct {
		Batch []map[string]any `json:"batch"`
	}
	if err := json.Unmarshal(raw, &batch); err != nil {
		s.count(func(st *SinkStats) { st.Refused++ })
		answer(w, http.StatusBadRequest, "invalid JSON")
		return
	}
	if bytes.Contains(raw, []byte(PoisonSKU)) {
		s.count(func(st *SinkStats) { st.Refused++ })
		answer(w, http.StatusBadRequest, "demo: a message with properties.sku "+PoisonSKU+" is refused on purpose, so that a dead letter shows")
		return
	}
	s.mu.Lock()
	for _, m := range batch.Batch {
		if len(s.recent) < sinkKeep {
			s.recent = append(s.recent, m)
		} else {
			s.recent[s.next] = m
		}
		s.next = (s.next + 1) % sinkKeep
	}
	s.stats.Messages += len(batch.Batch)
	s.stats.Batches++
	s.mu.Unlock()
	w.Write([]byte(`{"success":true}`))
}

func answer(w http.ResponseWriter, code int, msg string) {
	b, _ := json.Marshal(map[string]any{"success": false, "message": msg})
	w.WriteHeader(code)
	w.Write(b)
}

func (s *Sink) count(f func(*SinkStats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

// Stats returns the counts so far.
func (s *Sink) Stats() SinkStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Messages returns the most recent messages accepted, oldest first.
func (s *Sink) Messages() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.recent) < sinkKeep {
		return append([]map[string]any(nil), s.recent...)
	}
	return append(append([]map[string]any(nil), s.recent[s.next:]...), s.recent[:s.next]...)
}
