package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/cli"
	"github.com/statsig-bridge/statsig-bridge/internal/config"
	"github.com/statsig-bridge/statsig-bridge/internal/queue"
	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// replayConfig is testConfig with a second Segment destination "other"
// (its own sink) and log.keep, so acked batches stay for replay.
func replayConfig(t *testing.T, s, other *sink, keep time.Duration) *config.Config {
	t.Helper()
	cfg := testConfig(t, s.URL)
	second := cfg.Destinations[0]
	seg := *second.Segment
	seg.Endpoint = other.URL
	second.Name, second.Segment = "other", &seg
	cfg.Destinations = append(cfg.Destinations, second)
	cfg.Log.Keep = keep
	return cfg
}

// sendAndWait posts one request of n events marked batch-i and waits
// until both sinks have them.
func sendAndWait(t *testing.T, b *bridge, batch, n int, sinks ...*sink) map[string]bool {
	t.Helper()
	body, markers := sdkBody(9, batch, n)
	mustPost(t, b.URL, body)
	want := map[string]bool{}
	for _, m := range markers {
		want[m] = true
	}
	for _, s := range sinks {
		waitDelivered(t, s, want, 10*time.Second)
	}
	return want
}

// replay runs cli.Replay in the test process and returns its progress
// output.
//
// Right after the bridge on cfg's data dir stopped, the dir's lock can
// still be held for a moment by a process forked for another test (see
// startBridgeLogging): replay then tries again for up to 5 s.
func replay(t *testing.T, cfg *config.Config, opts cli.ReplayOptions) (cli.ReplayResult, string, error) {
	t.Helper()
	for lockedUntil := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		res, out, err := replayOnce(t, cfg, opts)
		if !errors.Is(err, queue.ErrLocked) || time.Now().After(lockedUntil) {
			return res, out, err
		}
	}
}

// replayOnce is replay without the retry.
func replayOnce(t *testing.T, cfg *config.Config, opts cli.ReplayOptions) (cli.ReplayResult, string, error) {
	t.Helper()
	var out bytes.Buffer
	opts.Progress = &out
	opts.ProgressInterval = time.Millisecond // a line per tick, so the test sees them
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := cli.Replay(ctx, cfg, testLogger(t), opts)
	t.Logf("replay %+v: %+v, %v; progress:\n%s", opts.Destination, res, err, out.String())
	return res, out.String(), err
}

// TestReplayTimeRangeToOneDestination: three requests are delivered to two
// destinations; the bridge stops; replay --since/--until covering only the
// second request re-sends exactly its events, with the messageIds of their
// first delivery, to the named destination only.
func TestReplayTimeRangeToOneDestination(t *testing.T) {
	parallel(t)
	s, other := newSink(t), newSink(t)
	cfg := replayConfig(t, s, other, time.Hour)
	b := startBridge(t, cfg)
	first := sendAndWait(t, b, 1, 30, s, other)
	since := time.Now()
	second := sendAndWait(t, b, 2, 40, s, other)
	until := time.Now()
	third := sendAndWait(t, b, 3, 20, s, other)
	b.Stop()
	before := deliveries(s)
	otherBefore := len(other.Messages())

	res, out, err := replay(t, cfg, cli.ReplayOptions{Destination: "segment", Since: since, Until: until})
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	if res.Batches != 1 || res.Events != 40 || res.Delivered != 40 || res.Left != 0 {
		t.Errorf("result %+v, want 1 batch, 40 events delivered", res)
	}
	after := deliveries(s)
	for m := range second {
		if len(after[m]) != 2 {
			t.Errorf("event %s arrived %d times, want 2 (first delivery and replay)", m, len(after[m]))
		} else if after[m][1] != before[m][0] {
			t.Errorf("event %s replayed with messageId %s, first delivered as %s", m, after[m][1], before[m][0])
		}
	}
	for _, set := range []map[string]bool{first, third} {
		for m := range set {
			if len(after[m]) != 1 {
				t.Errorf("event %s outside the range arrived %d times, want 1", m, len(after[m]))
			}
		}
	}
	if dups := after.checkCopies(t); dups != len(second) {
		t.Errorf("%d copies beyond the first, want the %d replayed", dups, len(second))
	}
	if n := len(other.Messages()); n != otherBefore {
		t.Errorf("destination other got %d messages during the replay to segment", n-otherBefore)
	}
	for _, want := range []string{"re-sending 1 batches", "events/s", "% done", "replay: done: 40 events", "40 messages delivered to segment"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress output lacks %q:\n%s", want, out)
		}
	}

	// --until alone: everything stored before it, i.e. the first two
	// requests; the third is not sent again.
	res, out, err = replay(t, cfg, cli.ReplayOptions{Destination: "segment", Until: until})
	if err != nil || res.Events != 70 {
		t.Fatalf("replay --until: %+v, %v\n%s", res, err, out)
	}
	after = deliveries(s)
	for m := range third {
		if len(after[m]) != 1 {
			t.Errorf("event %s after --until arrived %d times, want 1", m, len(after[m]))
		}
	}
	for m := range first {
		if len(after[m]) != 2 {
			t.Errorf("event %s before --until arrived %d times, want 2", m, len(after[m]))
		}
	}
	after.checkCopies(t)

	// The destinations' own positions did not move: a restarted bridge
	// sends nothing again.
	n := len(s.Messages())
	b = startBridge(t, cfg)
	sendAndWait(t, b, 4, 5, s, other)
	if got := len(s.Messages()) - n; got != 5 {
		t.Errorf("after the replays the restarted bridge sent %d messages, want only the 5 new", got)
	}
	b.Stop()
}

// TestReplayDeadLetters: Segment refuses (400) a poison event; it is
// dead-lettered. Once Segment accepts it, replay --dead-letters sends it
// with its messageId and removes the dead letter.
func TestReplayDeadLetters(t *testing.T) {
	parallel(t)
	s := newSink(t)
	var refuse atomic.Bool
	refuse.Store(true)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if refuse.Load() && bytes.Contains(body, []byte(`"poison"`)) {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"invalid message"}`))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.serve(w, r)
	}))
	t.Cleanup(front.Close)
	cfg := testConfig(t, front.URL)
	b := startBridge(t, cfg)
	body, markers := sdkBody(0, 0, 20)
	body = bytes.Replace(body, []byte(`"seq":"0-0-7"`), []byte(`"seq":"poison"`), 1)
	mustPost(t, b.URL, body)
	want := map[string]bool{}
	for _, m := range markers {
		if m != "0-0-7" {
			want[m] = true
		}
	}
	waitDelivered(t, s, want, 10*time.Second)
	testwait.For(t, 10*time.Second, "the poison event in the dead letters", func() bool {
		v, _ := metric(t, b.URL, `statsig_bridge_dead_lettered_events_total{destination="segment",reason="rejected_by_destination"}`)
		return v == 1
	})
	b.Stop()
	if dl := deadLetters(t, b, "segment"); len(dl) != 1 {
		t.Fatalf("%d dead letters before the replay, want 1", len(dl))
	}
	wantID := deadLetters(t, b, "segment")[0].Payload

	refuse.Store(false)
	res, out, err := replay(t, cfg, cli.ReplayOptions{Destination: "segment", DeadLetters: true})
	if err != nil {
		t.Fatalf("replay --dead-letters: %v\n%s", err, out)
	}
	if res.Delivered != 1 || res.Left != 0 || res.DeadLettered != 0 {
		t.Errorf("result %+v, want 1 delivered", res)
	}
	d := deliveries(s)
	if len(d["poison"]) != 1 {
		t.Fatalf("the poison event arrived %d times, want once", len(d["poison"]))
	}
	if !bytes.Contains(wantID, []byte(`"messageId":"`+d["poison"][0]+`"`)) {
		t.Errorf("replayed with messageId %s, the dead letter's payload was %s", d["poison"][0], wantID)
	}
	if n := len(deadLetters(t, b, "segment")); n != 0 {
		t.Errorf("%d dead letters left after the replay, want 0", n)
	}
	if !strings.Contains(out, "re-sending 1 dead letters to segment") || !strings.Contains(out, "replay: done: 1 events") {
		t.Errorf("progress output:\n%s", out)
	}
}

// TestReplayRefusesARunningEmbeddedLog: the embedded log is single-process;
// replay against the data dir of a running bridge says to stop it.
func TestReplayRefusesARunningEmbeddedLog(t *testing.T) {
	parallel(t)
	s := newSink(t)
	cfg := testConfig(t, s.URL)
	b := startBridge(t, cfg)
	defer b.Stop()
	_, _, err := replayOnce(t, cfg, cli.ReplayOptions{Destination: "segment"})
	if err == nil || !strings.Contains(err.Error(), "stop it first") {
		t.Fatalf("replay against a running bridge: err = %v, want a refusal saying to stop it", err)
	}
	if !strings.Contains(err.Error(), queue.ErrLocked.Error()) {
		t.Errorf("err = %v, want it to wrap queue.ErrLocked", err)
	}
}

// TestReplayWhileBridgeRunsOnExternalJetStream: on an external JetStream
// (BRIDGE_TEST_NATS_URL) replay runs next to a serving bridge: it re-sends
// its range to the one destination while the bridge keeps delivering new
// events, each exactly once.
func TestReplayWhileBridgeRunsOnExternalJetStream(t *testing.T) {
	parallel(t)
	url := externalNATSURL(t)
	s, other := newSink(t), newSink(t)
	cfg := replayConfig(t, s, other, time.Hour)
	cfg.Log.NATSURL = url
	cfg.Log.MaxBytes = 64 << 20
	id := fmt.Sprintf("replay_%d_%d", os.Getpid(), time.Now().UnixNano())
	cfg.Log.Stream = "E2E_EVENTS_" + id
	cfg.Log.Subject = "e2e." + id + ".events"
	cfg.Log.DeadLetterStream = "E2E_DEADLETTER_" + id
	cfg.Log.DeadLetterSubject = "e2e." + id + ".deadletter"
	dropLogStreams(t, url, cfg.Log.Stream, cfg.Log.DeadLetterStream)
	b := startBridge(t, cfg)
	first := sendAndWait(t, b, 1, 30, s, other)
	until := time.Now()
	otherBefore := len(other.Messages())

	res, out, err := replay(t, cfg, cli.ReplayOptions{Destination: "segment", Until: until})
	if err != nil || res.Events != 30 || res.Delivered != 30 {
		t.Fatalf("replay next to a running bridge: %+v, %v\n%s", res, err, out)
	}
	second := sendAndWait(t, b, 2, 10, s, other) // the bridge still delivers
	d := deliveries(s)
	for m := range first {
		if len(d[m]) != 2 {
			t.Errorf("event %s arrived %d times at segment, want 2", m, len(d[m]))
		}
	}
	for m := range second {
		if len(d[m]) != 1 {
			t.Errorf("new event %s arrived %d times, want 1", m, len(d[m]))
		}
	}
	d.checkCopies(t)
	if got := len(other.Messages()) - otherBefore; got != len(second) {
		t.Errorf("other got %d messages after the replay began, want only the %d new", got, len(second))
	}
}

// TestReplayStoppedDuringOutage: a replay whose destination is down keeps
// retrying; stopped (Ctrl-C), it returns an error counting the batches
// left, and the summary says "stopped".
func TestReplayStoppedDuringOutage(t *testing.T) {
	parallel(t)
	s, other := newSink(t), newSink(t)
	cfg := replayConfig(t, s, other, time.Hour)
	b := startBridge(t, cfg)
	sendAndWait(t, b, 1, 10, s, other)
	b.Stop()
	s.Respond(func(*http.Request, int) (int, http.Header) { return http.StatusServiceUnavailable, nil })
	attempts := len(s.Requests())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	done := make(chan error, 1)
	var res cli.ReplayResult
	go func() {
		var err error
		res, err = cli.Replay(ctx, cfg, testLogger(t), cli.ReplayOptions{Destination: "segment", Progress: &out})
		done <- err
	}()
	testwait.For(t, 10*time.Second, "the replay to retry against the outage", func() bool { return len(s.Requests()) >= attempts+2 })
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || res.Left != 1 || res.Delivered != 0 {
			t.Errorf("stopped replay: %+v, %v; want context.Canceled, 1 batch left, nothing delivered", res, err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("replay did not stop within 15s of its cancel")
	}
	if !strings.Contains(out.String(), "replay: stopped: ") || !strings.Contains(out.String(), "1 batches left") {
		t.Errorf("progress output:\n%s", out.String())
	}
}

// TestReplayKeepsOneDeadLetterPerEvent (issue 15.2): events that cannot be
// sent (no userId or anonymousId) are dead letters after serve. Replaying
// the log's range adds no second dead letter for them and says what
// happened (not sent again, already dead letters) rather than "refused";
// replay --dead-letters then re-sends each once.
func TestReplayKeepsOneDeadLetterPerEvent(t *testing.T) {
	parallel(t)
	s := newSink(t)
	cfg := testConfig(t, s.URL)
	cfg.Log.Keep = time.Hour
	b := startBridge(t, cfg)
	since := time.Now()
	var events []btEvent
	for i := range 5 {
		events = append(events, btEvent{name: "anonymous_click", value: i}) // no userID, no stableID
	}
	events = append(events, btEvent{name: "known_click", userID: "u1", stableID: "s1"})
	mustPost(t, b.URL, sdkRequest("no-identity", events...))
	testwait.For(t, 10*time.Second, "5 dead letters and 1 delivery", func() bool {
		return deadLettered(t, b.URL) == 5 && s.Unique() == 1
	})
	b.Stop()

	res, out, err := replay(t, cfg, cli.ReplayOptions{Destination: "segment", Since: since})
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	if res.Events != 6 || res.Delivered != 1 || res.DeadLettered != 0 || res.AlreadyDeadLettered != 5 || len(res.NotSent) != 0 {
		t.Errorf("replay of the range: %+v, want 1 delivered and 5 already dead letters", res)
	}
	if !strings.Contains(out, "5 not sent again (dead letters already, for the same reason)") || strings.Contains(out, "5 refused") {
		t.Errorf("replay's summary does not say what happened:\n%s", out)
	}
	res, out, err = replay(t, cfg, cli.ReplayOptions{Destination: "segment", DeadLetters: true})
	if err != nil {
		t.Fatalf("replay --dead-letters: %v\n%s", err, out)
	}
	// Still no identity: each fails again, once, and replaces its record.
	if res.Events != 5 || res.NotSent["no_user_anon_id"] != 5 || res.DeadLettered != 0 {
		t.Errorf("replay --dead-letters: %+v, want the 5 dead letters re-sent once each, not sent (no_user_anon_id)", res)
	}
	if !strings.Contains(out, "5 not sent (no_user_anon_id: no userId or anonymousId) and dead-lettered") {
		t.Errorf("replay --dead-letters' summary does not say why they were not sent:\n%s", out)
	}
}
