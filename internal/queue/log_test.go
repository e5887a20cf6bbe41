package queue

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// The log's core behaviours run against the embedded server and, when
// BRIDGE_TEST_NATS_URL is set, against an external JetStream as well.
var coreBehaviours = []struct {
	name string
	test func(t *testing.T, b backend)
}{
	{"RedeliversUnackedAfterReopen", testRedeliversUnackedAfterReopen},
	{"PublishDeduplicatesByMsgID", testPublishDeduplicatesByMsgID},
	{"PublishReturnsErrFullUntilTrimmed", testPublishReturnsErrFullUntilTrimmed},
	{"TrimWithoutConsumersKeepsEverything", testTrimWithoutConsumersKeepsEverything},
	{"TrimStopsAtSlowestConsumer", testTrimStopsAtSlowestConsumer},
	{"DeadLettersRoundTrip", testDeadLettersRoundTrip},
}

func TestEmbeddedJetStream(t *testing.T) {
	t.Parallel() // overlaps the full-disk test's waits
	for _, c := range coreBehaviours {
		t.Run(c.name, func(t *testing.T) { c.test(t, embeddedBackend) })
	}
}

func TestExternalJetStream(t *testing.T) {
	t.Parallel() // overlaps the full-disk test's waits
	for _, c := range coreBehaviours {
		t.Run(c.name, func(t *testing.T) { c.test(t, externalBackend) })
	}
}

// testRedeliversUnackedAfterReopen is crash recovery: batches acked before a
// restart stay done, unacked ones come back, and nothing is lost.
func testRedeliversUnackedAfterReopen(t *testing.T, b backend) {
	const n = 200
	cfg := b(t)
	l := openLog(t, cfg)
	ctx := testContext(t)

	// Hundreds of concurrent publishers, as from concurrent HTTP requests.
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seqs = map[uint64]string{}
	)
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			data := fmt.Sprintf("batch-%03d-%s", i, bytes.Repeat([]byte("x"), 1000))
			seq, err := l.Publish(ctx, []byte(data), fmt.Sprintf("req-%d", i))
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if prev, dup := seqs[seq]; dup {
				errs <- fmt.Errorf("sequence %d returned for %q and %q", seq, prev[:9], data[:9])
			}
			seqs[seq] = data
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Publish: %v", err)
	}

	opts := ConsumerOptions{AckWait: time.Second}
	msgs := fetchAll(t, openConsumer(t, l, "alpha", opts), n, 10*time.Second)
	unacked := map[uint64]string{}
	for _, m := range msgs {
		if want := seqs[m.Seq()]; string(mustData(t, m)) != want {
			t.Fatalf("message %d data = %.12q…, want %.12q…", m.Seq(), mustData(t, m), want)
		}
		if m.Delivered() != 1 {
			t.Fatalf("message %d Delivered = %d on first delivery, want 1", m.Seq(), m.Delivered())
		}
		if m.Seq()%2 == 0 {
			ackAll(t, []*Message{m})
		} else {
			unacked[m.Seq()] = string(mustData(t, m))
		}
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	l = openLog(t, cfg)
	c := openConsumer(t, l, "alpha", opts)
	redelivered := fetchAll(t, c, len(unacked), 15*time.Second)
	for _, m := range redelivered {
		want, ok := unacked[m.Seq()]
		if !ok {
			t.Fatalf("message %d redelivered after reopen although it was acked", m.Seq())
		}
		if string(mustData(t, m)) != want {
			t.Fatalf("redelivered message %d has different data", m.Seq())
		}
		if m.Delivered() < 2 {
			t.Fatalf("redelivered message %d Delivered = %d, want >= 2", m.Seq(), m.Delivered())
		}
		delete(unacked, m.Seq())
	}
	if len(unacked) != 0 {
		t.Fatalf("%d unacked messages never redelivered", len(unacked))
	}
	ackAll(t, redelivered)
	if extra, err := c.Fetch(ctx, 10, 200*time.Millisecond); err != nil || len(extra) != 0 {
		t.Fatalf("Fetch after acking everything = %d messages, %v; want none", len(extra), err)
	}
}

func testPublishDeduplicatesByMsgID(t *testing.T, b backend) {
	l := openLog(t, b(t))
	ctx := testContext(t)
	first, err := l.Publish(ctx, []byte("one"), "request-1")
	if err != nil {
		t.Fatal(err)
	}
	retry, err := l.Publish(ctx, []byte("one"), "request-1")
	if err != nil {
		t.Fatal(err)
	}
	if retry != first {
		t.Fatalf("retry with the same msgID stored at %d, want original %d", retry, first)
	}
	if msgs := streamState(t, l).Msgs; msgs != 1 {
		t.Fatalf("stream holds %d messages after a duplicate publish, want 1", msgs)
	}
}

func testPublishReturnsErrFullUntilTrimmed(t *testing.T, b backend) {
	cfg := b(t)
	cfg.MaxBytes = 64 << 10
	cfg.MaxMsgSize = 8 << 10
	l := openLog(t, cfg)
	ctx := testContext(t)
	c := openConsumer(t, l, "alpha", ConsumerOptions{})

	data := incompressible(1, 4<<10) // stored compressed, repeated bytes would never fill it
	stored := 0
	var err error
	for ; stored < 100; stored++ {
		if _, err = l.Publish(ctx, data, ""); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrFull) {
		t.Fatalf("Publish into a full stream after %d batches: err = %v, want ErrFull", stored, err)
	}
	if stored == 0 {
		t.Fatal("not even one batch fit into the stream")
	}

	ackAll(t, fetchAll(t, c, stored, 10*time.Second))
	purged, err := l.Trim(ctx)
	if err != nil {
		t.Fatalf("Trim: %v", err)
	}
	if purged != uint64(stored) {
		t.Fatalf("Trim purged %d, want %d", purged, stored)
	}
	if _, err := l.Publish(ctx, data, ""); err != nil {
		t.Fatalf("Publish after Trim: %v", err)
	}
}

func testTrimWithoutConsumersKeepsEverything(t *testing.T, b backend) {
	l := openLog(t, b(t))
	publishN(t, l, 5)
	purged, err := l.Trim(testContext(t))
	if err != nil || purged != 0 {
		t.Fatalf("Trim without consumers = %d, %v; want 0, nil", purged, err)
	}
	if msgs := streamState(t, l).Msgs; msgs != 5 {
		t.Fatalf("stream holds %d messages, want 5 kept for later destinations", msgs)
	}

	// A destination added later starts from all kept batches.
	late := fetchAll(t, openConsumer(t, l, "late", ConsumerOptions{}), 5, 5*time.Second)
	if string(mustData(t, late[0])) != batchData(0) {
		t.Fatalf("late destination's first batch = %q, want %q", mustData(t, late[0]), batchData(0))
	}
}

func testTrimStopsAtSlowestConsumer(t *testing.T, b backend) {
	l := openLog(t, b(t))
	ctx := testContext(t)
	fast := openConsumer(t, l, "fast", ConsumerOptions{})
	slow := openConsumer(t, l, "slow", ConsumerOptions{})
	seqs := publishN(t, l, 10)

	ackAll(t, fetchAll(t, fast, 10, 5*time.Second))
	slowFirst := fetchAll(t, slow, 4, 5*time.Second)
	ackAll(t, slowFirst)

	purged, err := l.Trim(ctx)
	if err != nil {
		t.Fatalf("Trim: %v", err)
	}
	if purged != 4 {
		t.Fatalf("Trim purged %d, want 4 (the slow consumer's ack floor)", purged)
	}
	if first := streamState(t, l).FirstSeq; first != seqs[4] {
		t.Fatalf("stream starts at %d after Trim, want %d", first, seqs[4])
	}

	ackAll(t, fetchAll(t, slow, 6, 5*time.Second))
	if purged, err = l.Trim(ctx); err != nil || purged != 6 {
		t.Fatalf("second Trim = %d, %v; want 6, nil", purged, err)
	}
	if purged, err = l.Trim(ctx); err != nil || purged != 0 {
		t.Fatalf("Trim of an empty stream = %d, %v; want 0, nil", purged, err)
	}
}

func testDeadLettersRoundTrip(t *testing.T, b backend) {
	l := openLog(t, b(t))
	ctx := testContext(t)
	letters := map[string][]string{
		"segment":   {`{"event":"a","reason":"400"}`, `{"event":"b","reason":"400"}`},
		"warehouse": {`{"event":"c","reason":"schema"}`},
	}
	for _, dest := range []string{"segment", "warehouse"} {
		for _, doc := range letters[dest] {
			if err := l.DeadLetter(ctx, dest, []byte(doc)); err != nil {
				t.Fatalf("DeadLetter(%s): %v", dest, err)
			}
		}
	}
	for dest, want := range letters {
		got, err := l.DeadLetters(ctx, dest, 10)
		if err != nil {
			t.Fatalf("DeadLetters(%s): %v", dest, err)
		}
		if fmt.Sprintf("%s", got) != fmt.Sprintf("%s", want) {
			t.Fatalf("DeadLetters(%s) = %s, want %s", dest, got, want)
		}
	}
	if got, err := l.DeadLetters(ctx, "segment", 1); err != nil || len(got) != 1 {
		t.Fatalf("DeadLetters(segment, max 1) = %d letters, %v; want 1", len(got), err)
	}
	if got, err := l.DeadLetters(ctx, "nobody", 10); err != nil || len(got) != 0 {
		t.Fatalf("DeadLetters(nobody) = %d letters, %v; want none", len(got), err)
	}
	if err := l.DeadLetter(ctx, "seg.ment", []byte("{}")); err == nil {
		t.Fatal("DeadLetter accepted a destination name that would split the subject")
	}
	// Dead letters are not events: they must not reach destination consumers.
	if msgs := streamState(t, l).Msgs; msgs != 0 {
		t.Fatalf("events stream holds %d messages after dead-lettering, want 0", msgs)
	}
}

// TestRemovedDestinationStopsHoldingTheLog: a destination that has a
// consumer but is gone from the config holds back trimming until its
// consumer is removed.
func TestRemovedDestinationStopsHoldingTheLog(t *testing.T) {
	ctx := testContext(t)
	l := openLog(t, embeddedBackend(t))
	if _, err := l.Consumer(ctx, "kept", ConsumerOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Consumer(ctx, "gone", ConsumerOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := l.Destinations(ctx)
	if err != nil || len(got) != 2 || got[0] != "gone" || got[1] != "kept" {
		t.Fatalf("Destinations = %v, %v", got, err)
	}
	if err := l.RemoveDestination(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if got, _ := l.Destinations(ctx); len(got) != 1 || got[0] != "kept" {
		t.Fatalf("after removal: %v", got)
	}
}

// TestDeadLetterEntriesAndDelete: dead letters come with their sequences,
// page from a sequence on, and a deleted one is gone (twice is no error).
func TestDeadLetterEntriesAndDelete(t *testing.T) {
	l := openLog(t, embeddedBackend(t))
	ctx := testContext(t)
	for _, doc := range []string{`{"n":1}`, `{"n":2}`, `{"n":3}`} {
		if err := l.DeadLetter(ctx, "segment", []byte(doc)); err != nil {
			t.Fatal(err)
		}
		if err := l.DeadLetter(ctx, "other", []byte(doc)); err != nil {
			t.Fatal(err)
		}
	}
	all, err := l.DeadLetterEntries(ctx, "segment", 0, 10)
	if err != nil || len(all) != 3 {
		t.Fatalf("DeadLetterEntries = %d, %v; want 3", len(all), err)
	}
	if string(all[1].Data) != `{"n":2}` || all[0].Seq >= all[1].Seq {
		t.Fatalf("entries out of order: %+v", all)
	}
	page, err := l.DeadLetterEntries(ctx, "segment", all[0].Seq+1, 1)
	if err != nil || len(page) != 1 || page[0].Seq != all[1].Seq {
		t.Fatalf("page from %d = %+v, %v; want the second letter", all[0].Seq+1, page, err)
	}
	if err := l.DeleteDeadLetter(ctx, all[1].Seq); err != nil {
		t.Fatal(err)
	}
	if err := l.DeleteDeadLetter(ctx, all[1].Seq); err != nil {
		t.Fatalf("deleting a deleted dead letter: %v", err)
	}
	got, err := l.DeadLetters(ctx, "segment", 10)
	if err != nil || fmt.Sprintf("%s", got) != `[{"n":1} {"n":3}]` {
		t.Fatalf("after delete: %s, %v", got, err)
	}
	if other, _ := l.DeadLetters(ctx, "other", 10); len(other) != 3 {
		t.Fatalf("another destination's dead letters changed: %d", len(other))
	}
}
