package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// mountSmallDisk mounts a tmpfs of size (e.g. "8m") on a new temp dir, or
// skips the test when this machine does not let it (not root, no mount).
func mountSmallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a %s tmpfs to fill (needs root): %v %s", size, err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v %s; detaching it", dir, err, bytes.TrimSpace(out))
			_ = exec.Command("umount", "-l", dir).Run()
		}
	})
	return dir
}

// fillDisk writes a file into dir that leaves about leave bytes free.
func fillDisk(t *testing.T, dir string, leave uint64) string {
	t.Helper()
	free, ok := freeBytes(dir)
	if !ok {
		t.Skip("cannot read free space here")
	}
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if free > leave {
		if _, err := f.Write(make([]byte, free-leave)); err != nil {
			t.Fatalf("writing the filler: %v", err)
		}
	}
	return path
}

// fetchN fetches until it has n batches, as a destination does: a fetch
// may fail while JetStream restarts.
func fetchN(t *testing.T, c *Consumer, n int, when string) []*Message {
	t.Helper()
	var got []*Message
	var lastErr error
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < n && time.Now().Before(deadline) {
		msgs, err := c.Fetch(context.Background(), 100, 200*time.Millisecond)
		if err != nil {
			lastErr = err
			time.Sleep(100 * time.Millisecond)
		}
		got = append(got, msgs...)
	}
	if len(got) != n {
		t.Fatalf("fetching %s: %d batches, want %d (last error: %v)", when, len(got), n, lastErr)
	}
	return got
}

// TestEmbeddedStoreRecoversFromFullDisk: a batch that does not fit on the
// data dir's disk fails the embedded store's write. nats-server then never
// answers that publish, and refuses every later write (and purge) even once
// space is back, until the stream is loaded again. The log must say "disk
// full" at once instead of letting publishes wait out their deadline, keep
// delivering what it holds, and take batches again by itself once there is
// space, with everything stored before intact.
func TestEmbeddedStoreRecoversFromFullDisk(t *testing.T) {
	t.Parallel() // waits on timeouts and intervals: overlapped with the package's other tests
	dir := mountSmallDisk(t, "32m")
	ctx := context.Background()
	cfg := Config{DataDir: dir, MaxBytes: 64 << 20, MaxMsgSize: 12 << 20}
	l, err := Open(ctx, cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := l.Consumer(ctx, "d", ConsumerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sent := map[uint64][]byte{}
	publish := func(data []byte, id string, wait time.Duration) (uint64, error) {
		pctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		seq, err := l.Publish(pctx, data, id)
		if err == nil {
			sent[seq] = data
		}
		return seq, err
	}
	// Incompressible, so that a batch takes its size on disk (stored batches are compressed).
	batch := func(i, size int) []byte { return incompressible(uint64(i), size) }
	for i := range 10 {
		if _, err := publish(batch(i, 10<<10), fmt.Sprintf("b%d", i), 5*time.Second); err != nil {
			t.Fatalf("publishing before the disk fills: %v", err)
		}
	}

	// More free than the guard keeps free, less than the next batch: the
	// store itself hits the full disk.
	filler := fillDisk(t, dir, storeMinFree+1<<20)
	big := batch(100, storeMinFree+2<<20)
	start := time.Now()
	if _, err := publish(big, "big", 20*time.Second); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("publishing a batch larger than the free space: %v, want ErrDiskFull", err)
	}
	t.Logf("the batch that did not fit failed after %s", time.Since(start).Round(time.Millisecond))
	if _, err := publish(batch(11, 10<<10), "b11", 20*time.Second); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("publishing while the disk is full: %v, want ErrDiskFull", err)
	}
	if err := l.Ready(ctx); !errors.Is(err, ErrDiskFull) {
		t.Errorf("Ready while the disk is full: %v, want ErrDiskFull", err)
	}
	// Destinations go on delivering what the log holds.
	msgs := fetchN(t, c, 10, "while the disk is full")
	for _, m := range msgs {
		if !bytes.Equal(mustData(t, m), sent[m.Seq()]) {
			t.Errorf("batch %d changed in the store", m.Seq())
		}
		if err := m.Ack(ctx); err != nil {
			t.Errorf("acking while the disk is full: %v", err)
		}
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := publish(batch(12, 10<<10), "b12", 5*time.Second)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log still refuses batches 20 s after the disk has room again: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := publish(big, "big", 10*time.Second); err != nil {
		t.Fatalf("publishing the large batch again once there is room: %v", err)
	}
	if err := l.Ready(ctx); err != nil {
		t.Errorf("Ready after recovery: %v", err)
	}
	msgs = fetchN(t, c, 2, "after recovery")
	for _, m := range msgs {
		if !bytes.Equal(mustData(t, m), sent[m.Seq()]) {
			t.Errorf("batch %d changed in the store", m.Seq())
		}
		_ = m.Ack(ctx)
	}

	// Close does not wait for the ack of the batch that did not fit, which
	// the store never sends: its Store call returned long ago.
	start = time.Now()
	if err := l.Close(); err != nil {
		t.Errorf("closing after the full disk: %v (it waited for a publish nobody waits for)", err)
	}
	t.Logf("closed in %s", time.Since(start).Round(time.Millisecond))
	// Nothing is corrupted: the store opens again with every batch intact.
	l, err = Open(ctx, cfg, testLogger(t))
	if err != nil {
		t.Fatalf("reopening the store after the full disk: %v", err)
	}
	defer l.Close()
	info, err := l.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != uint64(len(sent)) || info.State.Lost != nil {
		t.Errorf("reopened stream holds %d batches (lost: %v), want the %d stored", info.State.Msgs, info.State.Lost, len(sent))
	}
	check, err := l.Consumer(ctx, "check", ConsumerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	msgs = fetchN(t, check, len(sent), "from the reopened stream")
	for _, m := range msgs {
		if !bytes.Equal(mustData(t, m), sent[m.Seq()]) {
			t.Errorf("batch %d changed in the store", m.Seq())
		}
	}
}
