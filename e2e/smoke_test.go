package e2e

import (
	"io"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

func TestFixtureRequestsReachSegment(t *testing.T) {
	parallel(t)
	s := newSink(t)
	b := startBridge(t, testConfig(t, s.URL))
	total := 0
	for _, f := range []struct{ dir, name string }{
		{"go-sdk", "log_event-1"}, {"go-sdk-layers", "log_event-2"}, {"js-client", "rgstr-1"},
		{"js-client", "rgstr-3"}, {"node-core", "log_event-1"},
	} {
		resp := fixtureRequest(t, b.URL, f.dir, f.name)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 202 {
			t.Fatalf("%s/%s: %d %s", f.dir, f.name, resp.StatusCode, body)
		}
		total++
	}
	testwait.For(t, 10*time.Second, "messages at the sink", func() bool { return s.Unique() > 100 })
	for _, r := range s.Requests() {
		if !r.AuthOK {
			t.Fatalf("request without the write key as Basic auth: %v", r.Headers.Get("Authorization") != "")
		}
	}
}
