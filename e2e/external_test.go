package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// TestExternalJetStreamDeliversFixtures runs the bridge on an external NATS
// server (BRIDGE_TEST_NATS_URL) instead of the embedded one and replays
// captured SDK requests through it to the sink. The server is shared, so
// the test uses streams and subjects of its own and deletes them after.
func TestExternalJetStreamDeliversFixtures(t *testing.T) {
	parallel(t)
	url := externalNATSURL(t)
	s := newSink(t)
	cfg := testConfig(t, s.URL)
	cfg.Log.NATSURL = url
	cfg.Log.MaxBytes = 64 << 20 // a shared test server need not hold the 8 GiB default
	id := fmt.Sprintf("%d_%d", os.Getpid(), time.Now().UnixNano())
	cfg.Log.Stream = "E2E_EVENTS_" + id
	cfg.Log.Subject = "e2e." + id + ".events"
	cfg.Log.DeadLetterStream = "E2E_DEADLETTER_" + id
	cfg.Log.DeadLetterSubject = "e2e." + id + ".deadletter"
	js := externalJetStream(t, url)
	dropLogStreams(t, url, cfg.Log.Stream, cfg.Log.DeadLetterStream)
	b := startBridge(t, cfg)

	accepted := 0
	fixtures := []struct{ dir, name string }{
		{"go-sdk", "log_event-1"}, {"js-client", "rgstr-1"}, {"node-core", "log_event-1"},
	}
	for _, f := range fixtures {
		resp := fixtureRequest(t, b.URL, f.dir, f.name)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 202 {
			t.Fatalf("%s/%s: %d %s", f.dir, f.name, resp.StatusCode, body)
		}
		var answer struct{ Accepted int }
		if err := json.Unmarshal(body, &answer); err != nil || answer.Accepted == 0 {
			t.Fatalf("%s/%s: answer %s", f.dir, f.name, body)
		}
		accepted += answer.Accepted
	}

	// Every accepted event ends up delivered, filtered or dead-lettered.
	outcomes := func() int {
		return s.Unique() + int(metricSum(t, b.URL, "statsig_bridge_filtered_events_total")) + int(deadLettered(t, b.URL))
	}
	testwait.For(t, 15*time.Second, "an outcome for every accepted event", func() bool { return outcomes() >= accepted })
	if got := outcomes(); got != accepted {
		t.Errorf("%d outcomes for %d accepted events", got, accepted)
	}
	if s.Unique() == 0 {
		t.Fatal("nothing reached the sink")
	}
	if dups := len(s.Messages()) - s.Unique(); dups != 0 {
		t.Errorf("%d duplicates", dups)
	}

	// The batches went through the external server's stream, not an
	// embedded one.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, cfg.Log.Stream)
	if err != nil {
		t.Fatalf("the bridge's stream on the external server: %v", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.LastSeq != uint64(len(fixtures)) {
		t.Errorf("external stream %s holds up to sequence %d, want %d (one batch per request)", cfg.Log.Stream, info.State.LastSeq, len(fixtures))
	}
	t.Logf("%d events accepted, %d delivered through external stream %s", accepted, s.Unique(), cfg.Log.Stream)
}

// externalJetStream connects the test itself to the external server.
func externalJetStream(t testing.TB, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, nats.Name("statsig-bridge-e2e"))
	if err != nil {
		t.Fatalf("connecting to BRIDGE_TEST_NATS_URL %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}
