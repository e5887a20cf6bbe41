package debugger_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// next returns the next stream event named name, skipping others.
func next(t *testing.T, ch <-chan sseEvent, name string, timeout time.Duration) sseEvent {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("stream ended waiting for %q", name)
			}
			if ev.Name == name {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %q on the stream within %s", name, timeout)
		}
	}
}

// TestStreamSendsEventsOutcomesAndStats: a live client gets new events,
// then their outcomes; a burst beyond the client's rate is sampled and the
// rest counted as dropped.
func TestStreamSendsEventsOutcomesAndStats(t *testing.T) {
	seg := newSink(t)
	release := make(chan struct{})
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(free) // a failing test must not leave the sink's handler blocked
	seg.Respond(func([]byte, int) int {
		<-release // hold delivery until the event was seen pending
		return 200
	})
	b := startBridge(t, "listen: 127.0.0.1:0\ndata_dir: DATADIR\ndestinations:\n"+destinationYAML("segment", seg.URL, ""))
	ch := openStream(t, b.URL+"/api/stream")
	post(t, b, custom("live_event", "u1"))

	var s summary
	if err := json.Unmarshal([]byte(next(t, ch, "event", 5*time.Second).Data), &s); err != nil {
		t.Fatal(err)
	}
	if s.EventName != "live_event" || s.UserID != "u1" || s.Outcomes["segment"] != "pending" {
		t.Fatalf("streamed event %+v", s)
	}
	free()
	var o struct{ ID, Destination, Status string }
	if err := json.Unmarshal([]byte(next(t, ch, "outcome", 5*time.Second).Data), &o); err != nil {
		t.Fatal(err)
	}
	if o.ID != s.ID || o.Destination != "segment" || o.Status != "delivered" {
		t.Fatalf("outcome %+v, want delivered for %s", o, s.ID)
	}

	// A burst of 500 in one request: at most 50 per second go out.
	var evs []string
	for i := range 500 {
		evs = append(evs, custom(fmt.Sprintf("burst-%d", i), "u2"))
	}
	post(t, b, evs...)
	var st struct {
		ReceivedPerSec, Dropped, Sent uint64
		Buffered                      int
	}
	testwait.For(t, 10*time.Second, "stats accounting for the burst", func() bool {
		if err := json.Unmarshal([]byte(next(t, ch, "stats", 3*time.Second).Data), &st); err != nil {
			t.Fatal(err)
		}
		return st.Sent+st.Dropped == 501
	})
	if st.Sent > 1+2*20 || st.Dropped < 400 || st.Buffered != 500 {
		t.Errorf("stats after a burst of 500: %+v; want at most ~20/s sent, the rest dropped", st)
	}
}
