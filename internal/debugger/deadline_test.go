package debugger_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// TestStreamOutlivesServerTimeouts: the live stream stays open past the
// server's read_timeout and write_timeout (which bound every other
// request: each flush of the stream sets its own write deadline) and still
// carries events posted after both passed.
func TestStreamOutlivesServerTimeouts(t *testing.T) {
	t.Parallel() // waits on timeouts and intervals: overlapped with the package's other tests
	b := startBridge(t, "listen: 127.0.0.1:0\ndata_dir: DATADIR\n"+
		"intake: {store_timeout: 1s}\nserver: {read_header_timeout: 500ms, read_timeout: 1s, write_timeout: 2500ms}\n")
	ch := openStream(t, b.URL+"/api/stream")
	time.Sleep(3 * time.Second) // past read_timeout and write_timeout
	post(t, b, custom("after_the_timeouts", "u1"))
	var s summary
	if err := json.Unmarshal([]byte(next(t, ch, "event", 5*time.Second).Data), &s); err != nil {
		t.Fatal(err)
	}
	if s.EventName != "after_the_timeouts" {
		t.Fatalf("streamed %+v", s)
	}
}

// TestRedriveOutlivesWriteTimeout: a re-drive that takes longer than the
// server's write_timeout (its target is slow) still gets its answer out.
func TestRedriveOutlivesWriteTimeout(t *testing.T) {
	t.Parallel() // waits on timeouts and intervals: overlapped with the package's other tests
	seg := newSink(t)
	var slow atomic.Bool
	seg.Respond(func(body []byte, n int) int {
		if slow.Load() {
			time.Sleep(3 * time.Second)
			return http.StatusOK
		}
		if bytes.Contains(body, []byte("poison")) {
			return http.StatusBadRequest
		}
		return http.StatusOK
	})
	b := startBridge(t, "listen: 127.0.0.1:0\ndata_dir: DATADIR\n"+
		"intake: {store_timeout: 1s}\nserver: {read_header_timeout: 500ms, read_timeout: 1s, write_timeout: 2500ms}\n"+
		"destinations:\n"+destinationYAML("segment", seg.URL, ""))
	post(t, b, custom("poison", "u1"))
	testwait.For(t, 10*time.Second, "a dead letter", func() bool {
		return delivery(t, b, "1h").Destinations[0].Counts.DeadLettered == 1
	})
	slow.Store(true) // fixed, but each request now takes 3 s: more than write_timeout
	if got := redrive(t, b, "segment", http.StatusOK); got["redriven"] != 1.0 {
		t.Fatalf("redrive answered %v", got)
	}
}
