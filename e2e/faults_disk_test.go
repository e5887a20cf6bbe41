package e2e

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// mountSmallDisk mounts a tmpfs of size (e.g. "16m") on a new temp dir,
// or skips the test when this machine does not let it (not root, no
// mount in a container).
func mountSmallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a %s tmpfs to fill (needs root and mount): %v %s: skipping the full-disk fault test", size, err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v %s; detaching it", dir, err, bytes.TrimSpace(out))
			_ = exec.Command("umount", "-l", dir).Run()
		}
	})
	return dir
}

// fillDisk writes a file into dir until the disk is full, and returns it.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			return path
		}
	}
}

// waitDiskFull503 waits until intake has answered 503 n times and checks
// the last one names the full disk.
func waitDiskFull503(t *testing.T, st *steady, n int) {
	t.Helper()
	st.waitFor(t, 30*time.Second, fmt.Sprintf("%d answers of 503 on a full disk", n), func() bool {
		return st.Codes(http.StatusServiceUnavailable) >= n
	})
	if body := st.LastBody(http.StatusServiceUnavailable); !strings.Contains(body, "disk") {
		t.Errorf("503 on a full disk says %s; want it to name the full disk", body)
	}
}

// TestFaultDiskFullFiller: another file fills the disk of the data dir
// (embedded JetStream and the SQLite warehouse both live there) in the
// middle of a steady stream. Intake answers 503 naming the full disk, at
// once rather than after its store timeout; once the file is deleted it
// takes events again by itself, and every acknowledged event reaches both
// Segment and the warehouse. The bridge then starts again on the same data
// dir: nothing in it was corrupted.
func TestFaultDiskFullFiller(t *testing.T) {
	if testing.Short() {
		t.Skip("a long fault run (a full disk for 2 s under a steady stream); go test without -short runs it")
	}
	parallelLong(t)
	// Larger than the 16 MiB the log wants free before it takes events.
	dir := mountSmallDisk(t, "48m")
	s := newSink(t)
	// BRIDGE_WAREHOUSE unset: the default SQLite warehouse in the data dir,
	// beside the Segment destination.
	cfg := testConfigEnv(t, s.URL, map[string]string{"BRIDGE_DATA_DIR": dir})
	if len(cfg.Destinations) != 2 {
		t.Fatalf("destinations %+v, want Segment and the SQLite warehouse", cfg.Destinations)
	}
	// Longer than the SDKs' patience (10 s here): a request that waits for
	// the store timeout is a request left hanging.
	cfg.Intake.StoreTimeout = 20 * time.Second
	b := startBridgeLoggedOnFailure(t, cfg)
	st := startSteady(t, b.URL, 2, 10, 100*time.Millisecond, 10*time.Second)
	st.waitMore(t, 100, 20*time.Second, "before the disk fills")

	filler := fillDisk(t, dir)
	waitDiskFull503(t, st, 5)
	ready, _ := http.Get(b.URL + "/readyz")
	if ready != nil {
		ready.Body.Close()
		if ready.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("/readyz answered %d on a full disk, want 503", ready.StatusCode)
		}
	}
	ackedFull := st.Count()
	time.Sleep(2 * time.Second)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	st.waitMore(t, 200, 30*time.Second, "after the disk has room again")

	out := checkDelivered(t, "full disk (filler file)", st, s, 60*time.Second)
	st.checkAnsweredAt202Or503(t, "on a full disk")
	t.Logf("%d events acknowledged when the disk filled; %d answers of 503 on the full disk: %s",
		ackedFull, st.Codes(http.StatusServiceUnavailable), strings.TrimSpace(st.LastBody(http.StatusServiceUnavailable)))

	// The warehouse holds every event that reached Segment, once.
	db, err := sql.Open("sqlite", "file:"+cfg.Destinations[1].Warehouse.DSN+"?_pragma=busy_timeout(10000)&mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows := func() int {
		var n int
		if err := db.QueryRow("SELECT count(*) FROM tracks").Scan(&n); err != nil {
			return -1
		}
		return n
	}
	testwait.For(t, 30*time.Second, "every delivered event in the warehouse", func() bool { return rows() >= s.Unique() })
	if n := rows(); n != s.Unique() || n < out.Acked {
		t.Errorf("the warehouse holds %d events, Segment got %d distinct, %d were acknowledged", n, s.Unique(), out.Acked)
	}

	// The same data dir opens again and takes and delivers events.
	b.Stop()
	b2 := startBridgeLoggedOnFailure(t, cfg)
	body, markers := sdkBody(3000, 0, 10)
	mustPost(t, b2.URL, body)
	want := map[string]bool{}
	for _, m := range markers {
		want[m] = true
	}
	waitDelivered(t, s, want, 20*time.Second)
}

// TestFaultDiskFullByTheLog: the destination is down, so the log grows
// until it fills its disk. Intake answers 503 naming the full disk; when
// the destination is back, what it delivers is trimmed from the log, which
// makes room, and intake takes events again by itself.
func TestFaultDiskFullByTheLog(t *testing.T) {
	if testing.Short() {
		t.Skip("a long fault run (the log fills the disk under a steady stream); go test without -short runs it")
	}
	parallelLong(t)
	dir := mountSmallDisk(t, "48m")
	s := newSink(t)
	tg := newTarget(t, s)
	cfg := testConfigEnv(t, tg.URL, map[string]string{"BRIDGE_DATA_DIR": dir, "BRIDGE_WAREHOUSE": "off"})
	cfg.Intake.StoreTimeout = 20 * time.Second
	b := startBridgeLoggedOnFailure(t, cfg)
	tg.Down()
	// About 10 MB/s of 1 KiB events: the disk fills in a few seconds.
	st := startSteadyPadded(t, b.URL, 2, 200, 1<<10, 50*time.Millisecond, 10*time.Second)
	waitDiskFull503(t, st, 5)
	ackedFull := st.Count()
	tg.Up()
	st.waitMore(t, 2000, 60*time.Second, "after the destination is back")

	out := checkDelivered(t, "full disk (filled by the log)", st, s, 60*time.Second)
	st.checkAnsweredAt202Or503(t, "on a full disk")
	t.Logf("%d events acknowledged when the disk filled; %d answers of 503: %s; %d duplicates",
		ackedFull, st.Codes(http.StatusServiceUnavailable), strings.TrimSpace(st.LastBody(http.StatusServiceUnavailable)), out.Duplicates)
}
