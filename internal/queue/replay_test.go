package queue

import (
	"errors"
	"testing"
	"time"
)

// TestTrimKeep: with keep=1h acked batches stay after Trim; with keep=0
// they go, as before.
func TestTrimKeep(t *testing.T) {
	for _, tc := range []struct {
		keep       time.Duration
		wantPurged uint64
		wantLeft   uint64
	}{{time.Hour, 0, 5}, {0, 5, 0}} {
		t.Run(tc.keep.String(), func(t *testing.T) {
			cfg := embeddedBackend(t)
			cfg.Keep = tc.keep
			l := openLog(t, cfg)
			c := openConsumer(t, l, "segment", ConsumerOptions{})
			publishN(t, l, 5)
			ackAll(t, fetchAll(t, c, 5, 10*time.Second))
			purged, err := l.Trim(testContext(t))
			if err != nil {
				t.Fatalf("Trim: %v", err)
			}
			if purged != tc.wantPurged || streamState(t, l).Msgs != tc.wantLeft {
				t.Fatalf("keep=%s: purged %d, %d left; want %d purged, %d left", tc.keep, purged, streamState(t, l).Msgs, tc.wantPurged, tc.wantLeft)
			}
		})
	}
}

// TestTrimKeepPurgesOlder: batches stored longer than keep ago go once
// acked; newer acked ones and unacked ones stay.
func TestTrimKeepPurgesOlder(t *testing.T) {
	t.Parallel() // overlaps the full-disk test's waits
	cfg := embeddedBackend(t)
	cfg.Keep = 300 * time.Millisecond
	l := openLog(t, cfg)
	c := openConsumer(t, l, "segment", ConsumerOptions{})
	publishN(t, l, 3)
	old := time.Now()
	for time.Since(old) < cfg.Keep+100*time.Millisecond { // batches must age past keep; nothing to poll for
		time.Sleep(50 * time.Millisecond)
	}
	publishN(t, l, 2)
	ackAll(t, fetchAll(t, c, 4, 10*time.Second)) // the 5th stays unacked
	purged, err := l.Trim(testContext(t))
	if err != nil {
		t.Fatalf("Trim: %v", err)
	}
	if st := streamState(t, l); purged != 3 || st.FirstSeq != 4 || st.Msgs != 2 {
		t.Fatalf("purged %d, stream first %d msgs %d; want 3 purged, first 4, 2 msgs", purged, st.FirstSeq, st.Msgs)
	}
}

// TestReplayConsumer reads a time range of the log without moving the
// destination's durable consumer, and stops at the range's end.
func TestReplayConsumer(t *testing.T) {
	t.Parallel() // overlaps the full-disk test's waits
	l := openLog(t, embeddedBackend(t))
	c := openConsumer(t, l, "segment", ConsumerOptions{})
	publishN(t, l, 3)
	time.Sleep(20 * time.Millisecond) // distinct store times around the boundary
	since := time.Now()
	publishN(t, l, 3)
	time.Sleep(20 * time.Millisecond)
	until := time.Now()
	publishN(t, l, 2)
	ctx := testContext(t)
	if seq, err := l.SeqAt(ctx, since); err != nil || seq != 4 {
		t.Fatalf("SeqAt(since) = %d, %v; want 4", seq, err)
	}
	if seq, err := l.SeqAt(ctx, time.Now().Add(time.Hour)); err != nil || seq != 9 {
		t.Fatalf("SeqAt(future) = %d, %v; want 9 (last + 1)", seq, err)
	}
	rc, rng, err := l.ReplayConsumer(ctx, "segment", since, until, ConsumerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rng != (ReplayRange{First: 4, Last: 6}) {
		t.Fatalf("range %+v, want 4..6", rng)
	}
	msgs := fetchAll(t, rc, 3, 10*time.Second)
	for i, m := range msgs {
		if m.Seq() != uint64(4+i) {
			t.Fatalf("message %d has seq %d, want %d", i, m.Seq(), 4+i)
		}
	}
	if more, err := rc.Fetch(ctx, 10, 200*time.Millisecond); err != nil || len(more) != 0 {
		t.Fatalf("Fetch past the range returned %d messages, %v", len(more), err)
	}
	ackAll(t, msgs)
	if floor, err := rc.AckFloor(ctx); err != nil || floor < rng.Last {
		t.Fatalf("AckFloor = %d, %v; want >= %d", floor, err, rng.Last)
	}
	if err := rc.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// The durable consumer still starts at the beginning, and Trim is not
	// held back or advanced by the replay.
	if got := fetchAll(t, c, 8, 10*time.Second); got[0].Seq() != 1 {
		t.Fatalf("durable consumer starts at %d, want 1", got[0].Seq())
	}
	if purged, err := l.Trim(ctx); err != nil || purged != 0 {
		t.Fatalf("Trim purged %d, %v; want 0 (nothing acked by the destination)", purged, err)
	}
}

// TestEmbeddedDataDirIsLocked: a second process (here a second Open) on a
// data dir in use fails with ErrLocked instead of sharing the file store;
// after Close it opens.
func TestEmbeddedDataDirIsLocked(t *testing.T) {
	cfg := embeddedBackend(t)
	l := openLog(t, cfg)
	if _, err := Open(testContext(t), cfg, testLogger(t)); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: err = %v, want ErrLocked", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	openLog(t, cfg)
}

// TestReplayReaderGone: once the server has dropped an unused replay
// reader, AckFloor says so (the replay stops instead of waiting forever).
func TestReplayReaderGone(t *testing.T) {
	l := openLog(t, embeddedBackend(t))
	publishN(t, l, 2)
	ctx := testContext(t)
	rc, rng, err := l.ReplayConsumer(ctx, "segment", time.Time{}, time.Time{}, ConsumerOptions{})
	if err != nil || rng != (ReplayRange{First: 1, Last: 2}) {
		t.Fatalf("ReplayConsumer: %+v, %v", rng, err)
	}
	if err := rc.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.AckFloor(ctx); !errors.Is(err, ErrReplayGone) {
		t.Fatalf("AckFloor of a removed reader: %v, want ErrReplayGone", err)
	}
}
