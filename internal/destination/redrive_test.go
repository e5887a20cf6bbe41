package destination_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"

	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// TestRedriveSendsEachDeadLetterOnce: with experiment_viewed alongside an
// experiment exposure is two messages, each dead-lettered on its own when
// the destination refuses them. A re-drive sends each dead letter's own
// message once: as many messages as dead letters, no messageId twice, and
// its answer counts what was sent.
func TestRedriveSendsEachDeadLetterOnce(t *testing.T) {
	t.Parallel() // waits on retries and intervals; the rate test stays alone
	fixtures := filepath.Join("..", "..", "testdata", "fixtures", "go-sdk")
	raw, err := os.ReadFile(filepath.Join(fixtures, "download_config_specs.json"))
	if err != nil {
		t.Fatal(err)
	}
	specs, err := statsig.ParseSpecs(raw)
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(filepath.Join(fixtures, "log_event-1.json"))
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := statsig.DecodeRequest(body, statsig.RequestInfo{ReceivedAt: time.Now(), SDKKey: "k", SessionID: "s"})
	if err != nil {
		t.Fatal(err)
	}
	l := openLog(t)
	publishBatch(t, l, b)
	recv := newReceiver(t)
	recv.Respond(func([]string) int { return http.StatusBadRequest })
	m := mapping.New(mappingconfig.Options{ExperimentViewed: mappingconfig.ExperimentViewedAlongside}, func() *statsig.Specs { return specs }, mapping.Library{Name: "statsig-bridge", Version: "test"})
	rn := startRunner(t, l, recv, runnerOptions{Mapper: m})

	// Every message refused, one by one after bisection.
	want := 0
	for i := range b.Events {
		p, extra := m.MapAll(b, &b.Events[i])
		if p.Status != mapping.Filtered {
			want++
		}
		if extra != nil && extra.Status == mapping.Mapped {
			want++
		}
	}
	testwait.For(t, 20*time.Second, "every message dead-lettered", func() bool { return len(deadLetters(t, l)) == want })
	views := 0
	for _, dl := range deadLetters(t, l) {
		var msg struct{ Event string }
		_ = json.Unmarshal(dl.Payload, &msg)
		if msg.Event == mapping.ExperimentViewedEvent {
			views++
		}
	}
	if views == 0 {
		t.Fatal("no Experiment Viewed among the dead letters: the test checks nothing")
	}

	recv.Respond(func([]string) int { return http.StatusOK })
	before := len(recv.Delivered())
	res, err := rn.Runner.Redrive(t.Context(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	sent, copies := 0, 0
	for _, n := range recv.Delivered() {
		sent += n
		if n > 1 {
			copies++
		}
	}
	if before != 0 || sent != want || copies != 0 || res.Delivered != want || res.Left != 0 {
		t.Errorf("re-drive of %d dead letters (%d Experiment Viewed): %d messages received, %d messageIds more than once, answer %+v",
			want, views, sent, copies, res)
	}
	if n := len(deadLetters(t, l)); n != 0 {
		t.Errorf("%d dead letters left after the re-drive", n)
	}
}
