package destination_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/statsig-bridge/statsig-bridge/internal/delivery"
	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/destination/segmentapi"
	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
	"github.com/statsig-bridge/statsig-bridge/internal/queue"
	"github.com/statsig-bridge/statsig-bridge/internal/segment"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

const destName = "segment"

// defaultAckWait is the consumer's ack wait unless a test sets another.
const defaultAckWait = 30 * time.Second

// testLogger logs only when BRIDGE_TEST_LOG=debug.
func testLogger() *slog.Logger {
	if os.Getenv("BRIDGE_TEST_LOG") == "debug" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// openLog opens an embedded JetStream log in a temp dir.
func openLog(t testing.TB) *queue.Log {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := queue.Open(ctx, queue.Config{DataDir: t.TempDir()}, testLogger())
	if err != nil {
		t.Fatalf("opening the log: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// receivedRequest is one /v1/batch request as the receiver saw it.
type receivedRequest struct {
	At    time.Time // when the request arrived
	Code  int
	Bytes int      // the request body, uncompressed
	Items [][]byte // each message exactly as sent
	IDs   []string
	Names []string
}

// receiver is a Segment-compatible HTTP endpoint that records every batch
// and answers as told (200 unless respond says otherwise).
type receiver struct {
	*httptest.Server
	mu        sync.Mutex
	requests  []receivedRequest
	delivered map[string]int // messageId → times received in a 2xx answer
	respond   func(names []string) int
}

func newReceiver(t testing.TB) *receiver {
	r := &receiver{delivered: map[string]int{}}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

// Respond sets the status answered to a batch, given its event names.
func (r *receiver) Respond(f func(names []string) int) {
	r.mu.Lock()
	r.respond = f
	r.mu.Unlock()
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	var env struct {
		Batch  []json.RawMessage `json:"batch"`
		SentAt string            `json:"sentAt"`
	}
	if req.URL.Path != "/v1/batch" || json.Unmarshal(body, &env) != nil || env.SentAt == "" {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error":"not a /v1/batch body"}`))
		return
	}
	rr := receivedRequest{At: time.Now(), Bytes: len(body)}
	for _, raw := range env.Batch {
		var m struct {
			MessageID string `json:"messageId"`
			Event     string `json:"event"`
		}
		_ = json.Unmarshal(raw, &m)
		rr.Items = append(rr.Items, raw)
		rr.IDs = append(rr.IDs, m.MessageID)
		rr.Names = append(rr.Names, m.Event)
	}
	r.mu.Lock()
	respond := r.respond
	r.mu.Unlock()
	rr.Code = http.StatusOK
	if respond != nil {
		rr.Code = respond(rr.Names)
	}
	r.mu.Lock()
	r.requests = append(r.requests, rr)
	if rr.Code/100 == 2 {
		for _, id := range rr.IDs {
			r.delivered[id]++
		}
	}
	r.mu.Unlock()
	w.WriteHeader(rr.Code)
	if rr.Code == http.StatusBadRequest {
		w.Write([]byte(`{"error":"poison in batch"}`))
		return
	}
	w.Write([]byte(`{"success":true}`))
}

// Requests returns every request received.
func (r *receiver) Requests() []receivedRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receivedRequest(nil), r.requests...)
}

// Delivered returns how many times each messageId was accepted.
func (r *receiver) Delivered() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.delivered))
	for k, v := range r.delivered {
		out[k] = v
	}
	return out
}

// Unique is the number of distinct messageIds accepted.
func (r *receiver) Unique() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.delivered)
}

// run is a Runner running in the background until stop.
type run struct {
	Runner *destination.Runner
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// runnerOptions tune startRunner; zero values take test-friendly defaults.
type runnerOptions struct {
	AckWait       time.Duration
	Concurrency   int
	MaxBatchItems int
	FlushInterval time.Duration
	DrainTimeout  time.Duration
	Metrics       *destination.Metrics
	// RequestsPerSecond caps the request rate (0: the runner's default).
	RequestsPerSecond float64
	// Mapper maps the events (default: the default options, no specs).
	Mapper *mapping.Mapper
	// Dedupe is the dedupe_exposures state (default: none).
	Dedupe *destination.Dedupe
	// Identities is the identify on_change state (default: none).
	Identities *destination.Identities
	// Name is the destination's name (default destName).
	Name string
	// Priority, Streaming and MaxLag order the runner against others.
	Priority  *destination.Priority
	Streaming bool
	MaxLag    time.Duration
}

// startRunner runs a Segment destination over l, posting to recv. Each
// call gets a fresh handle on the same durable consumer, as a restarted
// bridge process would.
func startRunner(t testing.TB, l *queue.Log, recv *receiver, o runnerOptions) *run {
	t.Helper()
	if o.AckWait == 0 {
		o.AckWait = defaultAckWait
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = 100 * time.Millisecond
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = 500 * time.Millisecond
	}
	if o.Metrics == nil {
		o.Metrics = destination.NewMetrics(prometheus.NewRegistry())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	defer ccancel()
	name := cmp.Or(o.Name, destName)
	cons, err := l.Consumer(cctx, name, queue.ConsumerOptions{AckWait: o.AckWait})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	r := destination.NewRunner(destination.Config{
		Name:   name,
		Writer: segmentapi.New(segmentapi.Config{Endpoint: recv.URL, WriteKey: "test-write-key"}),
		Encoder: destination.TrackEncoder{
			Mapper:       cmp.Or(o.Mapper, mapping.New(mappingconfig.Options{}, nil, mapping.Library{Name: "statsig-bridge", Version: "test"})),
			MaxItemBytes: segment.MaxMessageBytes,
		},
		Consumer: cons,
		Log:      l,
		Metrics:  o.Metrics,
		Logger:   testLogger(),
		Options: delivery.Options{
			Concurrency:       o.Concurrency,
			FlushInterval:     o.FlushInterval,
			MaxBatchEvents:    o.MaxBatchItems,
			RequestsPerSecond: o.RequestsPerSecond,
			Retry:             delivery.RetryPolicy{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond},
		},
		AckWait:      o.AckWait,
		DrainTimeout: o.DrainTimeout,
		Dedupe:       o.Dedupe,
		Identities:   o.Identities,
		Priority:     o.Priority,
		Streaming:    o.Streaming,
		MaxLag:       o.MaxLag,
	})
	rn := &run{Runner: r, cancel: cancel, done: make(chan error, 1)}
	go func() { rn.done <- r.Run(ctx) }()
	t.Cleanup(func() { rn.Stop(t) })
	return rn
}

// Stop cancels the runner and waits for Run to return.
func (rn *run) Stop(t testing.TB) {
	t.Helper()
	rn.once.Do(func() {
		rn.cancel()
		select {
		case err := <-rn.done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("Run did not return within 15s of cancellation")
		}
	})
}

// event makes a custom event for user (empty: no user at all) with pad
// bytes of metadata.
func event(id, name, user string, pad int) statsig.Event {
	e := statsig.Event{ID: id, EventName: name, Time: 1795534342000}
	if user != "" {
		e.User = &statsig.User{UserID: statsig.FlexString(user)}
	}
	if pad > 0 {
		e.Metadata = json.RawMessage(`{"pad":"` + strings.Repeat("m", pad) + `"}`)
	}
	return e
}

// events makes n events named prefix-i with ids prefix-i.
func events(prefix string, n, pad int) []statsig.Event {
	out := make([]statsig.Event, n)
	for i := range out {
		id := fmt.Sprintf("%s-%d", prefix, i)
		out[i] = event(id, id, "user-"+id, pad)
	}
	return out
}

// publish stores one batch in the log as intake would.
func publish(t testing.TB, l *queue.Log, id string, evs []statsig.Event) {
	t.Helper()
	publishBatch(t, l, &statsig.Batch{ID: id, Source: statsig.SourceSDK, ReceivedAt: time.Now().UnixMilli(), SDKType: "test", Events: evs})
}

// publishBatch stores b in the log in the binary encoding, as intake does.
func publishBatch(t testing.TB, l *queue.Log, b *statsig.Batch) {
	t.Helper()
	data, err := b.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	publishStored(t, l, b.ID, data)
}

// publishStored stores data in the log as one message under msgID.
func publishStored(t testing.TB, l *queue.Log, msgID string, data []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := l.Publish(ctx, data, msgID); err != nil {
		t.Fatalf("publishing %s: %v", msgID, err)
	}
}

// deadLetters reads the destination's dead letters back from the log.
func deadLetters(t testing.TB, l *queue.Log) []destination.DeadLetter {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw, err := l.DeadLetters(ctx, destName, 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]destination.DeadLetter, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal(r, &out[i]); err != nil {
			t.Fatalf("dead letter %d is not a DeadLetter: %v: %s", i, err, r)
		}
	}
	return out
}

// lag reads the durable consumer's backlog through a fresh handle; ackWait
// must be the runner's, or the handle would change the consumer's config.
func lag(t testing.TB, l *queue.Log, ackWait time.Duration) (pending uint64, ackPending int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := l.Consumer(ctx, destName, queue.ConsumerOptions{AckWait: ackWait})
	if err != nil {
		t.Fatal(err)
	}
	pending, ackPending, err = cons.Lag(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return pending, ackPending
}

// waitForLagZero waits until every log message is acked.
func waitForLagZero(t testing.TB, l *queue.Log, ackWait time.Duration) {
	t.Helper()
	testwait.For(t, 10*time.Second, "every log message acked", func() bool {
		p, a := lag(t, l, ackWait)
		return p == 0 && a == 0
	})
}

func containsName(names []string, name string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}
