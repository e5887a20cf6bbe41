package queue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// externalURLEnv names the external JetStream the suite also runs against
// (CI sets nats://127.0.0.1:4222).
const externalURLEnv = "BRIDGE_TEST_NATS_URL"

// backend yields a fresh, isolated Config for one test.
type backend func(t testing.TB) Config

// embeddedBackend runs the in-process server on a temp dir.
func embeddedBackend(t testing.TB) Config {
	return Config{DataDir: t.TempDir()}
}

// externalBackend points at BRIDGE_TEST_NATS_URL with stream and subject
// names unique to the test, and deletes the streams afterwards so repeated
// runs and parallel packages never see each other's data.
func externalBackend(t testing.TB) Config {
	url := os.Getenv(externalURLEnv)
	if url == "" {
		t.Skip("BRIDGE_TEST_NATS_URL not set: skipping external JetStream test")
	}
	if nc, err := nats.Connect(url); err == nil {
		version := nc.ConnectedServerVersion()
		nc.Close()
		if err := CheckServerVersion(url, version); err != nil {
			t.Skipf("BRIDGE_TEST_NATS_URL names a server the log refuses, skipping external JetStream test: %v", err)
		}
	}
	id := randomID(t)
	cfg := Config{
		URL:               url,
		Stream:            "TEST_" + strings.ToUpper(id),
		Subject:           "test." + id + ".events",
		DeadLetterStream:  "TEST_" + strings.ToUpper(id) + "_DL",
		DeadLetterSubject: "test." + id + ".deadletter",
		// A shared server must not have gigabytes reserved by a test.
		MaxBytes:           64 << 20,
		MaxMsgSize:         512 << 10, // below the default 1 MB max_payload of a stock server
		DeadLetterMaxBytes: 16 << 20,
	}
	t.Cleanup(func() { deleteStreams(t, url, cfg.Stream, cfg.DeadLetterStream, cfg.Stream+"_STATS") })
	return cfg
}

func deleteStreams(t testing.TB, url string, names ...string) {
	nc, err := nats.Connect(url)
	if err != nil {
		t.Errorf("connecting to delete test streams: %v", err)
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Errorf("creating JetStream context: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, name := range names {
		if err := js.DeleteStream(ctx, name); err != nil && !strings.Contains(err.Error(), "not found") {
			t.Errorf("deleting test stream %s: %v", name, err)
		}
	}
}

func randomID(t testing.TB) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// testLogger is silent unless BRIDGE_TEST_LOG=debug.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("BRIDGE_TEST_LOG") != "debug" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// openLog opens cfg and closes it when the test ends.
func openLog(t testing.TB, cfg Config) *Log {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := Open(ctx, cfg, testLogger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// openConsumer creates destination name's consumer or fails the test.
func openConsumer(t testing.TB, l *Log, name string, opts ConsumerOptions) *Consumer {
	t.Helper()
	c, err := l.Consumer(testContext(t), name, opts)
	if err != nil {
		t.Fatalf("Consumer(%s): %v", name, err)
	}
	return c
}

// publishN publishes n batches "batch-<i>" and returns their sequences.
func publishN(t testing.TB, l *Log, n int) []uint64 {
	t.Helper()
	ctx := testContext(t)
	seqs := make([]uint64, n)
	for i := range n {
		seq, err := l.Publish(ctx, []byte(batchData(i)), "")
		if err != nil {
			t.Fatalf("Publish %d: %v", i, err)
		}
		seqs[i] = seq
	}
	return seqs
}

func batchData(i int) string { return "batch-" + strconv.Itoa(i) }

// fetchAll fetches until want messages arrived or the deadline passes.
func fetchAll(t testing.TB, c *Consumer, want int, within time.Duration) []*Message {
	t.Helper()
	ctx := testContext(t)
	deadline := time.Now().Add(within)
	var got []*Message
	for len(got) < want && time.Now().Before(deadline) {
		msgs, err := c.Fetch(ctx, want-len(got), 500*time.Millisecond)
		if err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		got = append(got, msgs...)
	}
	if len(got) != want {
		t.Fatalf("fetched %d messages within %s, want %d", len(got), within, want)
	}
	return got
}

func ackAll(t testing.TB, msgs []*Message) {
	t.Helper()
	ctx := testContext(t)
	for _, m := range msgs {
		if err := m.Ack(ctx); err != nil {
			t.Fatalf("Ack %d: %v", m.Seq(), err)
		}
	}
}

func streamState(t testing.TB, l *Log) jetstream.StreamState {
	t.Helper()
	info, err := l.stream.Info(testContext(t))
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	return info.State
}

// mustData is m's batch as published; reading it back must not fail.
func mustData(t testing.TB, m *Message) []byte {
	t.Helper()
	data, err := m.Data()
	if err != nil {
		t.Fatalf("reading message %d: %v", m.Seq(), err)
	}
	return data
}

// incompressible is n pseudo-random bytes from seed: stored at full size
// (the log compresses batches when that saves space).
func incompressible(seed uint64, n int) []byte {
	r := mrand.New(mrand.NewPCG(seed, 0x5eed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}
