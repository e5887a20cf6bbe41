package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// exposuresConfig is a config file for `serve` subprocesses: one Segment
// destination "segment" delivering to s with the given mapping (YAML flow
// map), on the embedded log (logYAML "") or the log section logYAML.
func exposuresConfig(t testing.TB, s *sink, mappingYAML, logYAML string) string {
	t.Helper()
	if logYAML == "" {
		logYAML = "log:\n  ack_wait: 2s\n"
	}
	yaml := fmt.Sprintf(`listen: ${BRIDGE_LISTEN}
data_dir: ${BRIDGE_DATA_DIR}
log_level: %s
%sdestinations:
  - name: segment
    type: segment
    segment: {write_key: %s, endpoint: %q}
    mapping: %s
    delivery:
      flush_interval: 100ms
      retry: {initial: 20ms, max: 200ms}
`, processLogLevel(), logYAML, s.WriteKey, s.URL, mappingYAML)
	path := filepath.Join(t.TempDir(), "bridge.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestDedupeExposuresSurvivesKill9: the first exposure is claimed before it
// is delivered; the process is killed (SIGKILL) while Segment refuses it.
// After a restart on the same data dir, a repeat of the exposure posted
// meanwhile is suppressed (the claim survived in the log), and the first
// exposure, redelivered by the log, is still delivered: its claim holds
// its own messageId. Exactly one copy of the exposure reaches the sink.
func TestDedupeExposuresSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 and restart of a bridge process; go test without -short runs it")
	}
	t.Parallel()
	s := newSink(t)
	var refuse atomic.Bool
	refuse.Store(true)
	var refused atomic.Int64
	s.Respond(func(r *http.Request, _ int) (int, http.Header) {
		if refuse.Load() {
			refused.Add(1)
			return http.StatusServiceUnavailable, nil
		}
		return http.StatusOK, nil
	})
	path := exposuresConfig(t, s, "{dedupe_exposures: 1h}", "")
	dataDir := t.TempDir()
	env := func() map[string]string {
		return map[string]string{"BRIDGE_LISTEN": freeAddr(t), "BRIDGE_DATA_DIR": dataDir}
	}
	p := startProcessArgs(t, env(), "--config", path)
	firstAt := msAgo(time.Minute)
	mustPost(t, p.URL, eventsBody(t, gateExposure("u1", "g", "true", "r1", firstAt)))
	testwait.For(t, 20*time.Second, "the first exposure claimed and refused by Segment", func() bool { return refused.Load() >= 2 })
	p.Signal(t, syscall.SIGKILL)
	p.Wait(t, 10*time.Second)

	refuse.Store(false)
	p = startProcessArgs(t, env(), "--config", path)
	// A repeat (another SDK instance) and another user's first exposure.
	mustPost(t, p.URL, eventsBody(t, gateExposure("u1", "g", "true", "r1", msAgo(time.Second)), gateExposure("u2", "g", "true", "r1", msAgo(time.Second))))
	filtered := func() float64 {
		return metricByLabel(metricsText(t, p.URL), "statsig_bridge_filtered_events_total", `reason="duplicate_exposure"`)
	}
	testwait.For(t, 30*time.Second, "both first exposures delivered and the repeat suppressed", func() bool {
		return s.Unique() == 2 && filtered() == 1
	})
	byUser := map[string]map[string]any{}
	for _, m := range s.Messages() {
		u, _ := m["userId"].(string)
		if _, dup := byUser[u]; dup && m["messageId"] != byUser[u]["messageId"] {
			t.Errorf("two different exposures of %s delivered: %v and %v", u, byUser[u], m)
		}
		byUser[u] = m
	}
	want := time.UnixMilli(firstAt).UTC().Format("2006-01-02T15:04:05.000Z")
	if got := byUser["u1"]["originalTimestamp"]; got != want {
		t.Errorf("u1's delivered exposure happened at %v, want the first one's %s (the claim before the crash)", got, want)
	}
	p.StopGracefully(t, os.Interrupt)
}

// TestDedupeExposuresSharedByProcesses: two processes on one external
// JetStream share one dedupe state. The exposure goes through the first
// process; that process stops (so the second surely handles what follows);
// a repeat posted to the second, whose memory never saw the exposure, is
// suppressed, and a flipped gate still goes through.
func TestDedupeExposuresSharedByProcesses(t *testing.T) {
	t.Parallel()
	url := externalNATSURL(t)
	s := newSink(t)
	id := fmt.Sprintf("%d_%d", os.Getpid(), time.Now().UnixNano())
	stream := "E2E_DEDUPE_" + id
	dropLogStreams(t, url, stream, stream+"_DL")
	dropStreams(t, url, "KV_"+stream+"_DEDUPE_segment")
	logYAML := fmt.Sprintf("log:\n  nats_url: %q\n  max_bytes: 67108864\n  dead_letter_max_bytes: 16777216\n  ack_wait: 3s\n  stream: %s\n  subject: e2e.dedupe.%s\n  dead_letter_stream: %s_DL\n  dead_letter_subject: e2e.dedupe.dl.%s\n",
		url, stream, id, stream, id)
	path := exposuresConfig(t, s, "{dedupe_exposures: 1h}", logYAML)
	first := startProcessArgs(t, map[string]string{"BRIDGE_LISTEN": freeAddr(t), "BRIDGE_DATA_DIR": t.TempDir()}, "--config", path)
	mustPost(t, first.URL, eventsBody(t, gateExposure("u1", "g", "true", "r1", msAgo(time.Minute))))
	testwait.For(t, 20*time.Second, "the first exposure delivered", func() bool { return s.Unique() == 1 })
	first.StopGracefully(t, os.Interrupt)
	second := startProcessArgs(t, map[string]string{"BRIDGE_LISTEN": freeAddr(t), "BRIDGE_DATA_DIR": t.TempDir()}, "--config", path)
	mustPost(t, second.URL, eventsBody(t,
		gateExposure("u1", "g", "true", "r1", msAgo(time.Second)),
		gateExposure("u1", "g", "false", "r2", msAgo(time.Second))))
	testwait.For(t, 20*time.Second, "the flipped gate delivered and the repeat suppressed by the other process", func() bool {
		return s.Unique() == 2 && metricByLabel(metricsText(t, second.URL), "statsig_bridge_filtered_events_total", `reason="duplicate_exposure"`) == 1
	})
	second.StopGracefully(t, os.Interrupt)
}

// dropStreams deletes the named streams on the external server when the
// test ends (a destination's state buckets are streams KV_<bucket>).
func dropStreams(t testing.TB, url string, names ...string) {
	t.Helper()
	js := externalJetStream(t, url)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, name := range names {
			if err := js.DeleteStream(ctx, name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
				t.Errorf("deleting test stream %s: %v", name, err)
			}
		}
	})
}

// TestDedupeExposuresTwoProcessesAtOnce: two processes on one external
// JetStream take the same users' repeated exposures at the same time (the
// shared consumer hands the batches to either): each user's exposure
// reaches the sink under one messageId only.
func TestDedupeExposuresTwoProcessesAtOnce(t *testing.T) {
	t.Parallel()
	url := externalNATSURL(t)
	s := newSink(t)
	id := fmt.Sprintf("%d_%d", os.Getpid(), time.Now().UnixNano())
	stream := "E2E_DEDUPE2_" + id
	dropLogStreams(t, url, stream, stream+"_DL")
	dropStreams(t, url, "KV_"+stream+"_DEDUPE_segment")
	logYAML := fmt.Sprintf("log:\n  nats_url: %q\n  max_bytes: 67108864\n  dead_letter_max_bytes: 16777216\n  ack_wait: 3s\n  stream: %s\n  subject: e2e.dedupe2.%s\n  dead_letter_stream: %s_DL\n  dead_letter_subject: e2e.dedupe2.dl.%s\n",
		url, stream, id, stream, id)
	path := exposuresConfig(t, s, "{dedupe_exposures: 1h}", logYAML)
	var procs []*process
	for range 2 {
		procs = append(procs, startProcessArgs(t, map[string]string{"BRIDGE_LISTEN": freeAddr(t), "BRIDGE_DATA_DIR": t.TempDir()}, "--config", path))
	}
	const users, rounds = 20, 6
	for r := range rounds {
		var events []sdkEvent
		for u := range users {
			events = append(events, gateExposure(fmt.Sprintf("u%d", u), "g", "true", "r1", msAgo(time.Duration(rounds-r)*time.Second)))
		}
		mustPost(t, procs[r%2].URL, eventsBody(t, events...))
	}
	filtered := func() float64 {
		sum := 0.0
		for _, p := range procs {
			sum += metricByLabel(metricsText(t, p.URL), "statsig_bridge_filtered_events_total", `reason="duplicate_exposure"`)
		}
		return sum
	}
	testwait.For(t, 30*time.Second, "every exposure decided", func() bool {
		return s.Unique() >= users && filtered() == users*(rounds-1)
	})
	ids := map[any]map[any]bool{}
	for _, m := range s.Messages() {
		if ids[m["userId"]] == nil {
			ids[m["userId"]] = map[any]bool{}
		}
		ids[m["userId"]][m["messageId"]] = true
	}
	if len(ids) != users {
		t.Errorf("exposures of %d users delivered, want %d", len(ids), users)
	}
	for u, set := range ids {
		if len(set) != 1 {
			t.Errorf("%v: %d different exposures delivered, want 1", u, len(set))
		}
	}
	var split []float64
	for _, p := range procs {
		split = append(split, metricByLabel(metricsText(t, p.URL), "statsig_bridge_filtered_events_total", `reason="duplicate_exposure"`))
	}
	t.Logf("duplicates filtered per process: %v", split)
}

// TestDedupeExposuresBucketDeletedIsRecreated: a dedupe bucket deleted
// under a running bridge (an operator cleaning up streams) is made again:
// its state is lost, but deciding goes on (a first exposure after it is a
// first, its repeat a duplicate) without stalling delivery.
func TestDedupeExposuresBucketDeletedIsRecreated(t *testing.T) {
	t.Parallel()
	url := externalNATSURL(t)
	s := newSink(t)
	cfg := testConfig(t, s.URL)
	cfg.Log.NATSURL = url
	cfg.Log.MaxBytes = 64 << 20
	id := fmt.Sprintf("%d_%d", os.Getpid(), time.Now().UnixNano())
	cfg.Log.Stream = "E2E_DEDUPE3_" + id
	cfg.Log.Subject = "e2e." + id + ".dedupe3"
	cfg.Log.DeadLetterStream = "E2E_DEDUPE3_DL_" + id
	cfg.Log.DeadLetterSubject = "e2e." + id + ".dedupe3.dl"
	cfg.Destinations[0].Mapping.DedupeExposures = mappingconfig.Window(time.Hour)
	dropLogStreams(t, url, cfg.Log.Stream, cfg.Log.DeadLetterStream)
	bucketStream := "KV_" + cfg.Log.Stream + "_DEDUPE_segment"
	dropStreams(t, url, bucketStream)
	b := startBridge(t, cfg)
	mustPost(t, b.URL, eventsBody(t, gateExposure("u1", "g", "true", "r1", msAgo(3*time.Second)), gateExposure("u1", "g", "true", "r1", msAgo(2*time.Second))))
	testwait.For(t, 20*time.Second, "the first exposure delivered, the repeat suppressed", func() bool { return s.Unique() == 1 })

	js := externalJetStream(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := js.DeleteStream(ctx, bucketStream); err != nil {
		t.Fatal(err)
	}
	mustPost(t, b.URL, eventsBody(t, gateExposure("u2", "g", "true", "r1", msAgo(time.Second)), gateExposure("u2", "g", "true", "r1", msAgo(500*time.Millisecond))))
	testwait.For(t, 20*time.Second, "u2's first exposure delivered and its repeat suppressed", func() bool {
		return s.Unique() == 2 && metricByLabel(metricsText(t, b.URL), "statsig_bridge_filtered_events_total", `reason="duplicate_exposure"`) == 2
	})
	if _, err := js.Stream(ctx, bucketStream); err != nil {
		t.Errorf("the bucket was not made again: %v", err)
	}
	if n := metricByLabel(metricsText(t, b.URL), "statsig_bridge_state_errors_total", `state="dedupe"`); n != 0 {
		t.Errorf("%v state errors, want none: the bucket was made again at once", n)
	}
}
