package delivery

import (
	"testing"
	"time"
)

func TestWithDefaults(t *testing.T) {
	o := Options{}.WithDefaults()
	if o.Concurrency != DefaultConcurrency || o.FlushInterval != DefaultFlushInterval || o.MaxBatchEvents != DefaultMaxBatchEvents ||
		o.RequestsPerSecond != DefaultRequestsPerSecond || o.Parallelism < 1 || o.Parallelism > MaxParallelism ||
		o.Retry != (RetryPolicy{DefaultRetryInitial, DefaultRetryMax, DefaultRetryMaxElapsed, DefaultPauseProbe}) {
		t.Errorf("defaults %+v", o)
	}
	set := Options{Concurrency: 9, RequestsPerSecond: 50, Retry: RetryPolicy{Initial: time.Second}}.WithDefaults()
	if set.Concurrency != 9 || set.RequestsPerSecond != 50 || set.Retry.Initial != time.Second || set.Retry.Max != DefaultRetryMax {
		t.Errorf("set values not kept: %+v", set)
	}
}

// TestBackoffDoublesWithJitterUpToMax: each retry waits 80–100% of
// Initial·2ⁿ, never more than Max.
func TestBackoffDoublesWithJitterUpToMax(t *testing.T) {
	p := RetryPolicy{Initial: 100 * time.Millisecond, Max: time.Second}
	for n, want := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, time.Second, time.Second} {
		for range 20 {
			if got := p.Backoff(n); got > want || got < want*8/10 {
				t.Fatalf("Backoff(%d) = %s, want within [%s, %s]", n, got, want*8/10, want)
			}
		}
	}
	if got := p.Backoff(1000); got > time.Second {
		t.Errorf("Backoff(1000) = %s, over Max", got)
	}
}

// TestCeilingHasNoBurst: a Ceiling lets one request through at once, the
// next only after the spacing of the rate (with its margin): no burst on
// top of the rate in the first second.
func TestCeilingHasNoBurst(t *testing.T) {
	l := NewCeiling(50).spacing
	if l.Burst() != 1 {
		t.Errorf("burst %d, want 1", l.Burst())
	}
	now := time.Now()
	if !l.AllowN(now, 1) || l.AllowN(now, 1) {
		t.Error("a second request passed at once")
	}
	if l.AllowN(now.Add(20*time.Millisecond), 1) {
		t.Error("a request passed at exactly 1/rate: the margin is missing")
	}
	if !l.AllowN(now.Add(22*time.Millisecond), 1) {
		t.Error("a request did not pass after 1/(0.95·rate)")
	}
}

// TestCeilingHoldsLateRequests: requests whose slots came while their
// worker was stalled arrive together; the Ceiling lets at most the rate of
// them through within any second and says how long the rest must wait.
func TestCeilingHoldsLateRequests(t *testing.T) {
	c := NewCeiling(50)
	start := time.Now()
	var let []time.Time
	// 200 requests, in bunches of 10 arriving at once every 100 ms: twice
	// the rate. Each request waits as admit says, then asks again.
	pending := []time.Time{}
	for i := range 200 {
		pending = append(pending, start.Add(time.Duration(i/10)*100*time.Millisecond))
	}
	for _, at := range pending {
		now := at
		if len(let) > 0 && let[len(let)-1].After(now) {
			now = let[len(let)-1] // requests queue in order
		}
		for {
			d := c.admit(now)
			if d <= 0 {
				break
			}
			now = now.Add(d)
		}
		let = append(let, now)
	}
	for i := range let {
		n := 0
		for _, u := range let[i:] {
			if u.Sub(let[i]) < time.Second {
				n++
			}
		}
		if n > 50 {
			t.Fatalf("%d requests let through within one second from %s, over 50", n, let[i].Sub(start))
		}
	}
	if took := let[len(let)-1].Sub(start); took < 3*time.Second {
		t.Errorf("200 requests let through in %s: faster than 50 a second", took)
	}
}

// TestCeilingBelowOnePerSecond: a rate under one a second still lets one
// request through, then holds the next.
func TestCeilingBelowOnePerSecond(t *testing.T) {
	c := NewCeiling(0.5)
	now := time.Now()
	if c.admit(now) != 0 {
		t.Fatal("the first request was held")
	}
	if c.admit(now.Add(10*time.Millisecond)) <= 0 {
		t.Error("a second request within the second passed")
	}
}

// TestDefaultBackoffIsSegments (Segment conformance check 22): with the
// defaults the first gap is at least 100 ms, each doubles, and none is
// over 10 s; the jitter never takes a gap under Segment's floor.
func TestDefaultBackoffIsSegments(t *testing.T) {
	p := RetryPolicy{}.WithDefaults()
	for n := range 40 {
		floor := 8 * time.Second // 80% of the 10 s cap
		if n < 7 {
			floor = min(100*time.Millisecond<<n, floor)
		}
		for range 50 {
			if got := p.Backoff(n); got < floor || got > 10*time.Second {
				t.Fatalf("Backoff(%d) = %s, want within [%s, 10s]", n, got, floor)
			}
		}
	}
}
