package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// multiConfig is a bridge config file for a process on the external NATS
// server url: streams and subjects named by id, one Segment destination
// "segment" delivering to s. Every process gets the same file, so they
// share the stream and the destination's durable consumer.
func multiConfig(t testing.TB, url, id string, s *sink) string {
	t.Helper()
	yaml := fmt.Sprintf(`listen: ${BRIDGE_LISTEN}
data_dir: ${BRIDGE_DATA_DIR}
log_level: %s
log:
  nats_url: %q
  max_bytes: 67108864
  dead_letter_max_bytes: 16777216
  # A batch lost between the server and a client's expiring pull request
  # (see TestTwoProcessesShareExternalJetStream) comes back after this.
  ack_wait: 3s
  # Trims run while batches are out unacked, as on a busy log (the purge
  # that lost them on nats-server before 2.9.15).
  trim_interval: 200ms
  stream: E2E_MULTI_%s
  subject: e2e.multi.%s
  dead_letter_stream: E2E_MULTI_DL_%s
  dead_letter_subject: e2e.multi.dl.%s
destinations:
  - name: segment
    type: segment
    segment:
      write_key: %s
      endpoint: %s
    delivery:
      flush_interval: 100ms
      retry: {initial: 20ms, max: 200ms}
`, processLogLevel(), url, id, id, id, id, s.WriteKey, s.URL)
	path := filepath.Join(t.TempDir(), "bridge.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTwoProcessesShareExternalJetStream runs two `statsig-bridge serve`
// processes on the external NATS server (BRIDGE_TEST_NATS_URL) with the
// same streams and destination, posts load to both, and checks that every
// acknowledged event reaches the sink, that both processes delivered (the
// durable consumer is shared), and that no event was delivered twice except
// as a redelivery with the same messageId. The streams are deleted after.
//
// ack_wait is 3 s: in about one run in ten a batch is delivered by the
// server into a pull request its client has just given up on (the runner's
// short fetch waits), and only the redelivery after ack_wait brings it
// (seen as "all at the sink 2.9s after the load stopped"); with the default
// 30 s such a run would wait that long.
func TestTwoProcessesShareExternalJetStream(t *testing.T) {
	parallel(t)
	url := externalNATSURL(t)
	s := newSink(t)
	js := externalJetStream(t, url)
	procs, streamName := startSharedProcesses(t, url, 2, s)
	const perBatch = 50
	la := startLoadWorkers(t, procs[0].URL, 0, 2, perBatch)
	lb := startLoadWorkers(t, procs[1].URL, 100, 2, perBatch)
	testwait.For(t, 20*time.Second, "load accepted by both processes", func() bool {
		return la.Batches() >= 40 && lb.Batches() >= 40
	})
	la.Stop()
	lb.Stop()
	want := union(la.Acked(), lb.Acked())
	sent := time.Now()
	d := waitDelivered(t, s, want, 30*time.Second)
	took := time.Since(sent)
	dups := d.checkCopies(t)

	// The shared consumer hands each batch to whichever process asks first;
	// on a short run one process can take them all, so the split is logged,
	// not asserted (the sum below is).
	var perProcess []float64
	counted := func() float64 {
		perProcess = perProcess[:0]
		for _, p := range procs {
			perProcess = append(perProcess, metricSum(t, p.URL, "statsig_bridge_delivered_events_total"))
		}
		return perProcess[0] + perProcess[1]
	}
	// The sink has the messages before a process has read the answer and
	// counted them.
	testwait.For(t, 10*time.Second, "the deliveries counted", func() bool { return int(counted()) >= len(s.Messages()) })
	t.Logf("deliveries per process: %v", perProcess)
	// Every copy at the sink was delivered by one of the processes, and a
	// copy beyond the first comes only from a batch the log handed out again.
	if total := perProcess[0] + perProcess[1]; int(total) != len(s.Messages()) {
		t.Errorf("processes report %v delivered events, the sink received %d messages", perProcess, len(s.Messages()))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, streamName)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := stream.Consumer(ctx, "dest-segment")
	if err != nil {
		t.Fatalf("the shared durable consumer: %v", err)
	}
	// A process acks a batch after it counted its deliveries: every batch
	// acked, none left for the log to hand out, comes a moment later.
	var info *jetstream.ConsumerInfo
	testwait.For(t, 10*time.Second, "consumer dest-segment with nothing pending or unacked after delivery", func() bool {
		if info, err = cons.Info(ctx); err != nil {
			t.Fatal(err)
		}
		return info.NumAckPending == 0 && info.NumPending == 0
	})
	if dups > info.NumRedelivered*perBatch {
		t.Errorf("%d duplicate copies, but the log redelivered only %d batches of %d events", dups, info.NumRedelivered, perBatch)
	}
	for _, p := range procs {
		p.StopGracefully(t, os.Interrupt)
	}
	t.Logf("%d events acknowledged (%d + %d requests), all at the sink %s after the load stopped, delivered per process %v, %d duplicates, %d batches redelivered",
		len(want), la.Batches(), lb.Batches(), took.Round(time.Millisecond), perProcess, dups, info.NumRedelivered)
}

// startProcessArgs is startProcess with arguments after "serve" (such as
// --config FILE).
func startProcessArgs(t testing.TB, env map[string]string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bridgeBinary(t), append([]string{"serve"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &process{URL: "http://" + env["BRIDGE_LISTEN"], cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("output of bridge process %d:\n%s", cmd.Process.Pid, p.out.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if p.exited() {
			t.Fatalf("bridge process exited during start: %v\n%s", p.err, p.out.String())
		}
		if resp, err := http.Get(p.URL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("bridge process not ready after 30s:\n%s", p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
