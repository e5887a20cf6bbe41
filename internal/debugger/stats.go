package debugger

import (
	"encoding/json"
	"math/bits"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// Counters are kept in 10 s buckets for a day; latency histograms in 1 min
// buckets for a day.
const (
	countStep   = 10 // seconds
	countSlots  = 24 * 3600 / countStep
	latStep     = 60 // seconds
	latSlots    = 24 * 3600 / latStep
	latBins     = 4 * 30 // 4 bins per doubling of milliseconds, up to ~12 days
	maxSamples  = 10     // per reason, as Segment keeps
	reasonStep  = 60     // seconds: reason counts per minute
	maxReasons  = 100
	reasonSlots = 24 * 3600 / reasonStep
)

type countBucket struct {
	t                                   int64 // Unix s / countStep
	first, retry, filtered, dead, fails uint32
}

type latBucket struct {
	t int64 // Unix s / latStep
	n uint32
	h [latBins]uint32
}

// sample is one dead letter or failed request, kept for the delivery view.
type sample struct {
	At       time.Time
	Event    *statsig.Event
	Batch    *statsig.Batch
	Payload  []byte
	Detail   string
	Events   int
	Attempts int
}

type reasonStat struct {
	reason   string
	kind     string // dead_letter, retry or filtered
	counts   map[int64]uint32
	lastSeen time.Time
	samples  []json.RawMessage // ring of maxSamples, rendered when kept
	lastKept time.Time
	next     int
}

// destStats are one destination's delivery statistics.
type destStats struct {
	mu      sync.Mutex
	counts  *[countSlots]countBucket
	lat     *[latSlots]latBucket
	reasons map[string]*reasonStat
	// pending are this process's statistics by minute not yet stored in
	// the log (KeepStats).
	pending map[int64]*minuteRecord
}

func newDestStats() *destStats {
	return &destStats{counts: new([countSlots]countBucket), lat: new([latSlots]latBucket), reasons: map[string]*reasonStat{},
		pending: map[int64]*minuteRecord{}}
}

// latBin maps a latency in ms to its histogram bin: exact below 4 ms, then
// four bins per doubling.
func latBin(ms int64) int {
	if ms < 4 {
		return int(max(ms, 0))
	}
	e := bits.Len64(uint64(ms)) - 1
	b := 4*(e-1) + int((uint64(ms)>>(e-2))&3)
	return min(b, latBins-1)
}

// latValue is a bin's midpoint in seconds.
func latValue(b int) float64 {
	if b < 4 {
		return float64(b) / 1000
	}
	e := b/4 + 1
	sub := b % 4
	lo := float64(int64(4+sub) << (e - 2))
	hi := float64(int64(5+sub) << (e - 2))
	return (lo + hi) / 2 / 1000
}

func (s *destStats) countAt(t time.Time) *countBucket {
	k := t.Unix() / countStep
	b := &s.counts[k%countSlots]
	if b.t != k {
		*b = countBucket{t: k}
	}
	return b
}

func (s *destStats) add(o *destination.Outcome, at time.Time) {
	switch o.Status {
	case destination.StatusDelivered, destination.StatusFiltered, destination.StatusDeadLettered, destination.StatusRetrying:
	default:
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.countAt(at)
	p := s.pendingAt(at)
	switch o.Status {
	case destination.StatusDelivered:
		if o.Attempts > 1 {
			c.retry++
			p.Retry++
		} else {
			c.first++
			p.First++
		}
		if o.Batch != nil && o.Batch.ReceivedAt > 0 {
			k := at.Unix() / latStep
			l := &s.lat[k%latSlots]
			if l.t != k {
				*l = latBucket{t: k}
			}
			bin := latBin(at.UnixMilli() - o.Batch.ReceivedAt)
			l.h[bin]++
			l.n++
			if p.Lat == nil {
				p.Lat = map[int]uint32{}
			}
			p.Lat[bin]++
		}
	case destination.StatusFiltered:
		c.filtered++
		p.Filtered++
		// The filters an operator watches (what dedupe saves, what another
		// environment's traffic is) are listed with the issues, as filtered.
		if code := watchedFilter(o.Reason); code != "" {
			s.reason(code, "filtered", at, sample{At: at, Event: o.Event, Batch: o.Batch, Detail: o.Reason, Events: 1})
		}
	case destination.StatusDeadLettered:
		c.dead++
		p.Dead++
		s.reason(o.Reason, "dead_letter", at, sample{At: at, Event: o.Event, Batch: o.Batch, Payload: o.Payload, Detail: o.Note, Events: 1})
	case destination.StatusRetrying:
		c.fails++
		p.Fails++
		reason := o.Reason
		if reason != "" && reason[0] >= '0' && reason[0] <= '9' {
			reason = "http_" + reason
		}
		s.reason(reason, "retry", at, sample{At: at, Detail: o.Note, Events: o.Count, Attempts: o.Attempts})
	}
}

// watchedFilter is the reason under which a filtered outcome is listed:
// duplicate_exposure or environment, "" for the other filters.
func watchedFilter(reason string) string {
	switch {
	case reason == string(mapping.FilterDuplicateExposure):
		return reason
	case strings.HasPrefix(reason, string(mapping.FilterEnvironment)):
		return string(mapping.FilterEnvironment)
	}
	return ""
}

// reason counts one occurrence of reason and keeps its sample; s.mu held.
func (s *destStats) reason(reason, kind string, at time.Time, smp sample) {
	key := kind + "\x00" + reason
	r := s.reasons[key]
	if r == nil {
		if len(s.reasons) >= maxReasons {
			s.dropOldestReason()
		}
		r = &reasonStat{reason: reason, kind: kind, counts: map[int64]uint32{}}
		s.reasons[key] = r
	}
	k := at.Unix() / reasonStep
	r.counts[k]++
	s.pendingAt(at).addReason(kind, reason, 1)
	if len(r.counts) > reasonSlots {
		for t := range r.counts {
			if t <= k-reasonSlots {
				delete(r.counts, t)
			}
		}
	}
	r.lastSeen = at
	// Samples are rendered (copied) when kept, so they hold no log
	// message in memory; once ten are kept, at most one a second replaces
	// the oldest, so a storm of dead letters costs no more.
	if len(r.samples) == maxSamples && at.Sub(r.lastKept) < time.Second {
		return
	}
	r.lastKept = at
	if len(r.samples) < maxSamples {
		r.samples = append(r.samples, smp.json())
	} else {
		r.samples[r.next] = smp.json()
	}
	r.next = (r.next + 1) % maxSamples
}

func (s *destStats) dropOldestReason() {
	var oldest string
	var at time.Time
	for k, r := range s.reasons {
		if oldest == "" || r.lastSeen.Before(at) {
			oldest, at = k, r.lastSeen
		}
	}
	delete(s.reasons, oldest)
}

// Window is a span the delivery view shows, with its chart step.
type Window struct {
	Name string
	Span time.Duration
	Step time.Duration
}

// Windows are the spans /api/delivery accepts.
var Windows = map[string]Window{
	"10m": {"10m", 10 * time.Minute, 10 * time.Second},
	"1h":  {"1h", time.Hour, time.Minute},
	"24h": {"24h", 24 * time.Hour, 15 * time.Minute},
}

type deliveryCounts struct {
	Delivered         uint64 `json:"delivered"`
	DeliveredFirstTry uint64 `json:"deliveredFirstTry"`
	DeliveredRetry    uint64 `json:"deliveredRetry"`
	Filtered          uint64 `json:"filtered"`
	DeadLettered      uint64 `json:"deadLettered"`
	Retrying          int64  `json:"retrying"`
	// FailedRequests are failed delivery attempts (each is retried).
	FailedRequests uint64 `json:"failedRequests"`
}

type latency struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	// Count is the deliveries measured (0: the percentiles mean nothing).
	Count uint64 `json:"count"`
}

type seriesPoint struct {
	T            string `json:"t"`
	Delivered    uint64 `json:"delivered"`
	DeadLettered uint64 `json:"deadLettered"`
	Filtered     uint64 `json:"filtered"`
	Failed       uint64 `json:"failed"`
}

type reasonView struct {
	Reason   string          `json:"reason"`
	Type     string          `json:"type"` // dead_letter or retry
	Count    uint64          `json:"count"`
	LastSeen string          `json:"lastSeen"`
	Sample   json.RawMessage `json:"sample"`
	Samples  int             `json:"samples"`
}

type windowStats struct {
	counts  deliveryCounts
	latency latency
	series  []seriesPoint
	reasons []reasonView
}

// window summarises the statistics over w ending at now.
func (s *destStats) window(w Window, now time.Time) windowStats {
	var out windowStats
	step := int64(w.Step / time.Second)
	start := now.Add(-w.Span).Unix()
	// Chart points aligned to the step, oldest first, ending with now's.
	lastT := now.Unix() / step * step
	firstT := lastT - (int64(w.Span/time.Second)/step-1)*step
	out.series = make([]seriesPoint, 0, (lastT-firstT)/step+1)
	for t := firstT; t <= lastT; t += step {
		out.series = append(out.series, seriesPoint{T: formatTime(time.Unix(t, 0))})
	}
	var hist [latBins]uint64
	s.mu.Lock()
	for k := start / countStep; k <= now.Unix()/countStep; k++ {
		b := &s.counts[k%countSlots]
		if b.t != k {
			continue
		}
		c := &out.counts
		c.DeliveredFirstTry += uint64(b.first)
		c.DeliveredRetry += uint64(b.retry)
		c.Filtered += uint64(b.filtered)
		c.DeadLettered += uint64(b.dead)
		c.FailedRequests += uint64(b.fails)
		if i := (k*countStep - firstT) / step; i >= 0 && int(i) < len(out.series) {
			p := &out.series[i]
			p.Delivered += uint64(b.first + b.retry)
			p.DeadLettered += uint64(b.dead)
			p.Filtered += uint64(b.filtered)
			p.Failed += uint64(b.fails)
		}
	}
	for k := start / latStep; k <= now.Unix()/latStep; k++ {
		l := &s.lat[k%latSlots]
		if l.t != k || l.n == 0 {
			continue
		}
		out.latency.Count += uint64(l.n)
		for i, n := range l.h {
			hist[i] += uint64(n)
		}
	}
	for _, r := range s.reasons {
		var n uint64
		for t, c := range r.counts {
			if t >= start/reasonStep {
				n += uint64(c)
			}
		}
		if n == 0 {
			continue
		}
		var latest json.RawMessage // none for reasons known only from stored statistics
		if len(r.samples) > 0 {
			latest = r.samples[(r.next+len(r.samples)-1)%len(r.samples)]
		}
		out.reasons = append(out.reasons, reasonView{Reason: r.reason, Type: r.kind, Count: n,
			LastSeen: formatTime(r.lastSeen), Sample: latest, Samples: len(r.samples)})
	}
	s.mu.Unlock()
	out.counts.Delivered = out.counts.DeliveredFirstTry + out.counts.DeliveredRetry
	out.latency.P50 = percentile(&hist, out.latency.Count, 0.50)
	out.latency.P95 = percentile(&hist, out.latency.Count, 0.95)
	out.latency.P99 = percentile(&hist, out.latency.Count, 0.99)
	sort.Slice(out.reasons, func(i, j int) bool {
		if out.reasons[i].Count != out.reasons[j].Count {
			return out.reasons[i].Count > out.reasons[j].Count
		}
		return out.reasons[i].Reason < out.reasons[j].Reason
	})
	return out
}

// samplesOf returns every kept sample of a reason, newest first.
func (s *destStats) samplesOf(kind, reason string) []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.reasons[kind+"\x00"+reason]
	if r == nil {
		return nil
	}
	var out []json.RawMessage
	for i := range r.samples {
		out = append(out, r.samples[(r.next-1-i+2*len(r.samples))%len(r.samples)])
	}
	return out
}

func percentile(h *[latBins]uint64, total uint64, q float64) float64 {
	if total == 0 {
		return 0
	}
	want := uint64(q*float64(total) + 0.5)
	want = max(want, 1)
	var seen uint64
	for i, n := range h {
		seen += n
		if seen >= want {
			return latValue(i)
		}
	}
	return latValue(latBins - 1)
}

// json renders a sample for the API: the dead letter's event, payload and
// detail, or the failed request's error.
func (s sample) json() json.RawMessage {
	v := map[string]any{"at": formatTime(s.At)}
	if s.Detail != "" {
		v["detail"] = s.Detail
	}
	if s.Event != nil {
		v["event"] = s.Event
		v["eventId"] = s.Event.ID
		v["eventName"] = s.Event.EventName
	}
	if s.Batch != nil {
		v["receivedAt"] = formatTime(time.UnixMilli(s.Batch.ReceivedAt))
		v["sdkType"] = s.Batch.SDKType
	}
	if len(s.Payload) > 0 {
		v["payload"] = rawOrString(s.Payload)
	}
	if s.Events > 0 {
		v["events"] = s.Events
	}
	if s.Attempts > 0 {
		v["attempt"] = s.Attempts
	}
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"detail": s.Detail, "error": strings.TrimSpace(err.Error())})
	}
	return b
}

// rawOrString passes JSON through and quotes anything else.
func rawOrString(b []byte) any {
	if json.Valid(b) {
		return json.RawMessage(b)
	}
	return string(b)
}

// formatTime is RFC 3339 in UTC with milliseconds.
func formatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// maxPending bounds the minutes kept for storing: a day.
const maxPending = 24 * 60

// pendingAt is this process's record of at's minute; s.mu held.
func (s *destStats) pendingAt(at time.Time) *minuteRecord {
	m := at.Unix() / 60
	p := s.pending[m]
	if p == nil {
		if len(s.pending) >= maxPending { // nobody stores them (no KeepStats)
			oldest := m
			for k := range s.pending {
				oldest = min(oldest, k)
			}
			delete(s.pending, oldest)
		}
		p = &minuteRecord{Minute: m}
		s.pending[m] = p
	}
	return p
}

func (r *minuteRecord) addReason(kind, reason string, n uint32) {
	for i := range r.Reasons {
		if r.Reasons[i].Kind == kind && r.Reasons[i].Reason == reason {
			r.Reasons[i].N += n
			return
		}
	}
	r.Reasons = append(r.Reasons, reasonCount{Kind: kind, Reason: reason, N: n})
}

// takePending removes and returns the pending records.
func (s *destStats) takePending() []*minuteRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*minuteRecord, 0, len(s.pending))
	for m, p := range s.pending {
		out = append(out, p)
		delete(s.pending, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Minute < out[j].Minute })
	return out
}

// merge adds another process's (or an earlier run's) record to the view.
// Records older than the day the view keeps are left out.
func (s *destStats) merge(rec *minuteRecord) {
	at := time.Unix(rec.Minute*60, 0)
	if time.Since(at) > 24*time.Hour {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if k := rec.Minute * 60 / countStep; s.counts[k%countSlots].t <= k {
		c := s.countAt(at)
		c.first += rec.First
		c.retry += rec.Retry
		c.filtered += rec.Filtered
		c.dead += rec.Dead
		c.fails += rec.Fails
	}
	if k := rec.Minute * 60 / latStep; len(rec.Lat) > 0 && s.lat[k%latSlots].t <= k {
		l := &s.lat[k%latSlots]
		if l.t != k {
			*l = latBucket{t: k}
		}
		for bin, n := range rec.Lat {
			if bin >= 0 && bin < latBins {
				l.h[bin] += n
				l.n += n
			}
		}
	}
	for _, rc := range rec.Reasons {
		key := rc.Kind + "\x00" + rc.Reason
		r := s.reasons[key]
		if r == nil {
			if len(s.reasons) >= maxReasons {
				s.dropOldestReason()
			}
			r = &reasonStat{reason: rc.Reason, kind: rc.Kind, counts: map[int64]uint32{}}
			s.reasons[key] = r
		}
		k := rec.Minute * 60 / reasonStep
		r.counts[k] += rc.N
		if at.After(r.lastSeen) {
			r.lastSeen = at
		}
		if len(r.counts) > reasonSlots {
			for t := range r.counts {
				if t <= k-reasonSlots {
					delete(r.counts, t)
				}
			}
		}
	}
}
