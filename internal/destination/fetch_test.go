package destination

import "testing"

// TestFetchSizeFollowsEventsPerMessage: a fetch asks for about one
// batch's worth of log messages, from the events per message seen, within
// [minFetch, maxFetch]: every fetched message is held until delivered.
func TestFetchSizeFollowsEventsPerMessage(t *testing.T) {
	for _, c := range []struct {
		perMessage, want int
	}{
		{100, 25},          // 100-event SDK requests, 2,500-event batches
		{1, maxFetch},      // single events: capped
		{10_000, minFetch}, // huge requests: at least a few
		{500, 5},
	} {
		r := &Runner{limits: Limits{MaxItems: 2500}}
		if got := r.fetchSize(); got != maxFetch/4 {
			t.Errorf("before any message: %d, want %d", got, maxFetch/4)
		}
		for range 100 {
			r.seen(c.perMessage)
		}
		if got := r.fetchSize(); got != c.want {
			t.Errorf("%d events per message: fetch %d messages, want %d", c.perMessage, got, c.want)
		}
	}
}
