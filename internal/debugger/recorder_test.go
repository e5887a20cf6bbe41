package debugger

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// testBatch decodes a request of n custom events as the intake does.
func testBatch(t testing.TB, n int, tag string) *statsig.Batch {
	t.Helper()
	var evs []string
	now := time.Now().UnixMilli()
	for i := range n {
		evs = append(evs, fmt.Sprintf(`{"eventName":"purchase_%d","user":{"userID":"user-%s-%d","email":"u%d@example.com","customIDs":{"stableID":"s-%d"}},"time":%d,"value":"9.99","metadata":{"plan":"pro","tag":%q}}`,
			i%7, tag, i, i, i, now, tag))
	}
	body := `{"events":[` + strings.Join(evs, ",") + `],"statsigMetadata":{"sdkType":"statsig-node","sdkVersion":"5.0.0"}}`
	b, rejects, err := statsig.DecodeRequest([]byte(body), statsig.RequestInfo{ReceivedAt: time.UnixMilli(now), SDKType: "statsig-node"})
	if err != nil || len(rejects) > 0 || len(b.Events) != n {
		t.Fatalf("decoding: %v %v", err, rejects)
	}
	return b
}

// relog is the batch as a runner sees it: decoded from the log's copy.
func relog(t testing.TB, b *statsig.Batch) *statsig.Batch {
	data, err := b.AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := statsig.DecodeBatch(data)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func statusesOf(r *Recorder, id string) []string {
	recs, _ := r.snapshot(0, 0)
	for _, rec := range recs {
		if rec.ev.ID == id {
			var out []string
			for _, o := range rec.outs {
				out = append(out, statusNames[o.status])
			}
			return out
		}
	}
	return nil
}

// TestOutcomeBeforeReceived: a runner may report a batch before its intake
// request does; the outcome still lands on the event.
func TestOutcomeBeforeReceived(t *testing.T) {
	r := NewRecorder([]string{"a", "b"}, 10)
	b := testBatch(t, 3, "x")
	lb := relog(t, b)
	r.Outcome(destination.Outcome{Destination: "b", Status: "filtered", Batch: lb, Event: &lb.Events[1], Reason: "not selected", At: time.Now()})
	r.Received(b, nil)
	r.Outcome(destination.Outcome{Destination: "a", Status: "delivered", Batch: lb, Event: &lb.Events[1], Payload: []byte(`{}`), Attempts: 1})
	if got := fmt.Sprint(statusesOf(r, b.Events[1].ID)); got != "[delivered filtered]" {
		t.Errorf("statuses %s", got)
	}
	if got := fmt.Sprint(statusesOf(r, b.Events[0].ID)); got != "[pending pending]" {
		t.Errorf("other event %s", got)
	}
	if r.orphans.count.Load() != 0 {
		t.Errorf("%d orphans left", r.orphans.count.Load())
	}
}

// TestRingEvictsAndForgets: the ring keeps the newest events of large
// batches, ignores an SDK's retry of a stored request, and forgets the
// batches that left it.
func TestRingEvictsAndForgets(t *testing.T) {
	r := NewRecorder([]string{"a"}, 10)
	big := testBatch(t, 25, "big")
	r.Received(big, nil)
	recs, head := r.snapshot(0, 0)
	if len(recs) != 10 || head != 10 || recs[0].ev != &big.Events[24] || recs[9].ev != &big.Events[15] {
		t.Fatalf("ring after a batch of 25: %d records, head %d", len(recs), head)
	}
	lb := relog(t, big)
	r.Outcome(destination.Outcome{Destination: "a", Status: "dead_lettered", Batch: lb, Event: &lb.Events[20], Reason: "x"})
	if got := statusesOf(r, big.Events[20].ID); fmt.Sprint(got) != "[dead_lettered]" {
		t.Errorf("event 20: %v", got)
	}
	r.Received(big, nil) // the SDK resent it
	if _, head := r.snapshot(0, 0); head != 10 {
		t.Errorf("a resent batch was recorded again (head %d)", head)
	}
	for i := range 5 {
		r.Received(testBatch(t, 3, fmt.Sprint(i)), nil)
	}
	n := 0
	r.batches.Range(func(any, any) bool { n++; return true })
	if n > 4 {
		t.Errorf("%d batches indexed for a ring of 10 events of batches of 3", n)
	}
	// An outcome for an evicted batch changes nothing.
	r.Outcome(destination.Outcome{Destination: "a", Status: "delivered", Batch: lb, Event: &lb.Events[24]})
	if got := statusesOf(r, big.Events[24].ID); got != nil {
		t.Errorf("evicted event still listed: %v", got)
	}
}

// TestRecorderConcurrent runs intake and outcomes together (for -race).
func TestRecorderConcurrent(t *testing.T) {
	r := NewRecorder([]string{"a", "b"}, 50)
	var batches []*statsig.Batch
	for i := range 20 {
		batches = append(batches, testBatch(t, 10, fmt.Sprint(i)))
	}
	var wg sync.WaitGroup
	for _, b := range batches {
		lb := relog(t, b)
		wg.Add(2)
		go func() { defer wg.Done(); r.Received(b, nil) }()
		go func() {
			defer wg.Done()
			for i := range lb.Events {
				r.Outcome(destination.Outcome{Destination: "a", Status: "delivered", Batch: lb, Event: &lb.Events[i], Attempts: 1})
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 50 {
			r.snapshot(0, 0)
		}
	}()
	wg.Wait()
	if w := r.stats[0].window(Windows["10m"], time.Now()); w.counts.DeliveredFirstTry != 200 {
		t.Errorf("delivered %d, want 200", w.counts.DeliveredFirstTry)
	}
}

func TestLatencyBins(t *testing.T) {
	prev := -1
	for ms := int64(0); ms < 1<<20; ms = ms*5/4 + 1 {
		b := latBin(ms)
		if b < prev {
			t.Fatalf("latBin(%d) = %d < %d", ms, b, prev)
		}
		prev = b
		if v := latValue(b) * 1000; ms >= 4 && (v < float64(ms)*0.8 || v > float64(ms)*1.25) {
			t.Errorf("latBin(%d) = %d, value %.1f ms", ms, b, v)
		}
	}
}

// BenchmarkRecorderReceived is the intake's cost: ns per event recorded.
func BenchmarkRecorderReceived(b *testing.B) {
	for _, size := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			r := NewRecorder([]string{"segment", "warehouse"}, DefaultCapacity)
			var batches []*statsig.Batch
			for i := range max(2, 2*DefaultCapacity/size+1) {
				batches = append(batches, testBatch(b, size, fmt.Sprint(i)))
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r.Received(batches[i%len(batches)], nil)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/event")
		})
	}
	b.Run("batch=100/parallel", func(b *testing.B) {
		r := NewRecorder([]string{"segment", "warehouse"}, DefaultCapacity)
		var batches []*statsig.Batch
		for i := range 64 {
			batches = append(batches, testBatch(b, 100, fmt.Sprint(i)))
		}
		b.ResetTimer()
		var n sync.Mutex
		next := 0
		b.RunParallel(func(pb *testing.PB) {
			n.Lock()
			i := next
			next += 7
			n.Unlock()
			for pb.Next() {
				r.Received(batches[i%len(batches)], nil)
				i++
			}
		})
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/event")
	})
}

// BenchmarkRecorderOutcome is a delivery goroutine's cost per event
// outcome, for events long gone from the ring (the common case at load)
// and for events in it.
func BenchmarkRecorderOutcome(b *testing.B) {
	for _, inRing := range []bool{false, true} {
		b.Run(fmt.Sprintf("inRing=%v", inRing), func(b *testing.B) {
			r := NewRecorder([]string{"segment", "warehouse"}, DefaultCapacity)
			old := testBatch(b, 100, "old")
			old.ReceivedAt -= 60_000 // delivered a minute later: not waiting for its intake
			r.Received(old, nil)
			if !inRing {
				for i := range 10 {
					r.Received(testBatch(b, 100, fmt.Sprint(i)), nil)
				}
			}
			lb := relog(b, old)
			payload := []byte(`{"type":"track"}`)
			now := time.Now()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r.Outcome(destination.Outcome{Destination: "segment", Status: "delivered", Batch: lb, Event: &lb.Events[i%100], Payload: payload, Attempts: 1, At: now})
			}
		})
	}
	// Young batches gone from the ring: at full load most outcomes.
	b.Run("young", func(b *testing.B) {
		r := NewRecorder([]string{"segment", "warehouse"}, DefaultCapacity)
		var lbs []*statsig.Batch
		for i := range 64 {
			bt := testBatch(b, 100, fmt.Sprint(i))
			r.Received(bt, nil)
			lbs = append(lbs, relog(b, bt))
		}
		payload := []byte(`{"type":"track"}`)
		now := time.Now()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			lb := lbs[(i/100)%64]
			r.Outcome(destination.Outcome{Destination: "segment", Status: "delivered", Batch: lb, Event: &lb.Events[i%100], Payload: payload, Attempts: 1, At: now})
		}
	})
}
