package queue

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// The embedded server must never open a port: it would collide with other
// NATS servers and expose the log to the network.
func TestEmbeddedServerOpensNoListener(t *testing.T) {
	l := openLog(t, embeddedBackend(t))
	if !l.Embedded() {
		t.Fatal("Embedded() = false with no URL")
	}
	if addr := l.ns.Addr(); addr != nil {
		t.Fatalf("embedded server listens for clients on %s", addr)
	}
	if addr := l.ns.MonitorAddr(); addr != nil {
		t.Fatalf("embedded server listens for monitoring on %s", addr)
	}
	if addr := l.ns.ClusterAddr(); addr != nil {
		t.Fatalf("embedded server listens for routes on %s", addr)
	}
	if err := l.Ready(testContext(t)); err != nil {
		t.Fatalf("Ready: %v", err)
	}
}

func TestReadyFailsAfterClose(t *testing.T) {
	l := openLog(t, embeddedBackend(t))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Ready(testContext(t)); err == nil {
		t.Fatal("Ready after Close = nil, want an error")
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestPublishRejectsOversizedBatch(t *testing.T) {
	cfg := embeddedBackend(t)
	cfg.MaxMsgSize = 1 << 10
	l := openLog(t, cfg)
	_, err := l.Publish(testContext(t), make([]byte, 1<<10+1), "")
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Publish of an oversized batch: err = %v, want ErrTooLarge", err)
	}
}

func TestFetchReturnsAvailableBatchesWithoutWaitingForFullBatch(t *testing.T) {
	l := openLog(t, embeddedBackend(t))
	c := openConsumer(t, l, "alpha", ConsumerOptions{})
	publishN(t, l, 3)
	msgs, err := fetchBeforeWaitEnds(t, t.Context(), c, 100)
	if err != nil || len(msgs) != 3 {
		t.Fatalf("Fetch = %d messages, %v; want 3", len(msgs), err)
	}
}

func TestFetchWaitsForFirstBatchThenReturns(t *testing.T) {
	t.Parallel() // overlaps the full-disk test's waits
	l := openLog(t, embeddedBackend(t))
	c := openConsumer(t, l, "alpha", ConsumerOptions{})
	ctx := testContext(t)
	published := make(chan error, 1)
	time.AfterFunc(200*time.Millisecond, func() {
		_, err := l.Publish(ctx, []byte("late"), "")
		published <- err
	})
	msgs, err := fetchBeforeWaitEnds(t, ctx, c, 100)
	if err != nil || len(msgs) != 1 || string(mustData(t, msgs[0])) != "late" {
		t.Fatalf("Fetch = %d messages, %v; want the one late batch", len(msgs), err)
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}
}

func TestFetchTimesOutWithNothing(t *testing.T) {
	t.Parallel() // overlaps the full-disk test's waits
	l := openLog(t, embeddedBackend(t))
	c := openConsumer(t, l, "alpha", ConsumerOptions{})
	msgs, err := c.Fetch(testContext(t), 10, 150*time.Millisecond)
	if err != nil || msgs != nil {
		t.Fatalf("Fetch on an empty stream = %v, %v; want nil, nil", msgs, err)
	}
}

func TestFetchReturnsPromptlyWhenContextEnds(t *testing.T) {
	t.Parallel() // overlaps the full-disk test's waits
	l := openLog(t, embeddedBackend(t))
	c := openConsumer(t, l, "alpha", ConsumerOptions{})
	ctx, cancel := context.WithCancel(testContext(t))
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := fetchBeforeWaitEnds(t, ctx, c, 10)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Fetch after cancel: err = %v, want context.Canceled", err)
	}
}

func TestNakRedeliversAndLagCounts(t *testing.T) {
	l := openLog(t, embeddedBackend(t))
	c := openConsumer(t, l, "alpha", ConsumerOptions{})
	ctx := testContext(t)
	publishN(t, l, 3)
	// The consumer counts new batches shortly after the stream stored them.
	deadline := time.Now().Add(5 * time.Second)
	for {
		pending, ackPending, err := c.Lag(ctx)
		if err == nil && pending == 3 && ackPending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Lag before fetching = %d, %d, %v; want 3, 0, nil", pending, ackPending, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	msgs := fetchAll(t, c, 1, 5*time.Second)
	if pending, ackPending, err := c.Lag(ctx); err != nil || pending != 2 || ackPending != 1 {
		t.Fatalf("Lag with one in flight = %d, %d, %v; want 2, 1, nil", pending, ackPending, err)
	}
	if err := msgs[0].InProgress(); err != nil {
		t.Fatalf("InProgress: %v", err)
	}
	if err := msgs[0].Nak(0); err != nil {
		t.Fatalf("Nak: %v", err)
	}
	// Nak is fire-and-forget, so the redelivery may come before or after
	// the two batches not yet fetched.
	for _, m := range fetchAll(t, c, 3, 5*time.Second) {
		if m.Seq() == msgs[0].Seq() && m.Delivered() != 2 {
			t.Fatalf("naked batch %d redelivered with Delivered = %d, want 2", m.Seq(), m.Delivered())
		}
	}
}

func TestConsumerRejectsNamesThatAreNotSubjectTokens(t *testing.T) {
	l := openLog(t, embeddedBackend(t))
	for _, name := range []string{"", "a.b", "a b", "a*", "a>"} {
		if _, err := l.Consumer(testContext(t), name, ConsumerOptions{}); err == nil {
			t.Errorf("Consumer(%q) = nil error, want a rejection", name)
		}
	}
}

func TestConsumerIsIdempotentAcrossProcesses(t *testing.T) {
	l := openLog(t, embeddedBackend(t))
	ctx := testContext(t)
	for range 3 {
		if _, err := l.Consumer(ctx, "alpha", ConsumerOptions{AckWait: 30 * time.Second}); err != nil {
			t.Fatalf("repeated Consumer: %v", err)
		}
	}
}

func TestConfigValidateNamesEveryProblem(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"defaults with data dir", Config{DataDir: "/tmp/x"}, nil},
		{"external needs no data dir", Config{URL: "nats://127.0.0.1:4222", Replicas: 3}, nil},
		{"embedded needs data dir", Config{}, []string{"data_dir:"}},
		{"embedded is single node", Config{DataDir: "d", Replicas: 3}, []string{"replicas: 3"}},
		{"bad names", Config{DataDir: "d", Stream: "a.b", Subject: "a.*"}, []string{"stream:", "subject:"}},
		{"same streams", Config{DataDir: "d", Stream: "S", DeadLetterStream: "S"}, []string{"dead_letter_stream:"}},
		{"message above stream", Config{DataDir: "d", MaxBytes: 100, MaxMsgSize: 200}, []string{"max_msg_size:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate = nil, want errors mentioning %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate = %v, want it to mention %q", err, w)
				}
			}
		})
	}
}

// A request larger than MaxAckPending can never be filled; Fetch must not sit
// on it until JetStream's no-wait request times out.
func TestFetchLargerThanMaxAckPendingReturnsPromptly(t *testing.T) {
	l := openLog(t, embeddedBackend(t))
	c := openConsumer(t, l, "alpha", ConsumerOptions{MaxAckPending: 2})
	publishN(t, l, 5)
	msgs, err := fetchBeforeWaitEnds(t, t.Context(), c, 10)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("Fetch = %d messages, %v; want 2 (MaxAckPending)", len(msgs), err)
	}
}

// fetchWait is the wait of the Fetch calls that must return early: long
// on purpose, so a Fetch that waits it out (the bug these tests catch) is
// told apart from a slow machine by a factor of two, not a guess.
const fetchWait = time.Minute

// fetchBeforeWaitEnds fetches up to n batches with fetchWait and fails the
// test if the Fetch is still waiting when half of fetchWait is over.
func fetchBeforeWaitEnds(t *testing.T, ctx context.Context, c *Consumer, n int) ([]*Message, error) {
	t.Helper()
	type result struct {
		msgs []*Message
		err  error
	}
	done := make(chan result, 1)
	go func() {
		msgs, err := c.Fetch(ctx, n, fetchWait)
		done <- result{msgs, err}
	}()
	select {
	case r := <-done:
		return r.msgs, r.err
	case <-time.After(fetchWait / 2):
		t.Fatalf("Fetch still waiting after %s of its %s wait", fetchWait/2, fetchWait)
		return nil, nil
	}
}

// TestEmbeddedStartWarnsNothing: opening the embedded log logs no warning a
// user cannot act on, such as nats-server's advice against payloads over
// 8 MB (a log message is one SDK request of up to 16 MiB by design).
func TestEmbeddedStartWarnsNothing(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	l, err := Open(testContext(t), Config{DataDir: t.TempDir()}, logger)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if buf.Len() > 0 {
		t.Errorf("opening and closing the embedded log warned:\n%s", buf.String())
	}
}
