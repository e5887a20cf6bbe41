package e2e

import (
	"database/sql"
	"fmt"
	"net/http"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// processUnderLoad starts a bridge process delivering to a slow sink (50
// ms a request, so that deliveries are in flight at any moment) and a
// load of 4 workers posting 50 events a request, and waits until acked
// requests are acknowledged and deliveries are under way.
func processUnderLoad(t *testing.T, acked int) (*sink, map[string]string, *process, *load) {
	t.Helper()
	s := newSink(t)
	s.Respond(func(*http.Request, int) (int, http.Header) {
		time.Sleep(50 * time.Millisecond)
		return http.StatusOK, nil
	})
	env := processEnv(freeAddr(t), t.TempDir(), s)
	p := startProcess(t, env)
	l := startLoad(t, p.URL, 4, 50)
	testwait.For(t, 20*time.Second, fmt.Sprintf("%d acknowledged requests and deliveries under way", acked), func() bool {
		return l.Batches() >= acked && len(s.Requests()) >= 3
	})
	return s, env, p, l
}

// restartUnderLoad starts the bridge process again on env, waits for more
// acknowledged requests to it, stops the load and waits until every
// acknowledged event is at the sink. It returns the new process, the
// acknowledged events, what reached the sink and its duplicate copies.
func restartUnderLoad(t *testing.T, env map[string]string, s *sink, l *load, more int) (*process, map[string]bool, delivery, int) {
	t.Helper()
	from := l.Batches()
	p := startProcess(t, env)
	testwait.For(t, 20*time.Second, fmt.Sprintf("%d more acknowledged requests after the restart", more), func() bool {
		return l.Batches() >= from+more
	})
	l.Stop()
	acked := l.Acked()
	d := waitDelivered(t, s, acked, 30*time.Second)
	return p, acked, d, d.checkCopies(t)
}

// TestCrashLosesNoAcknowledgedEvent kills the bridge process with SIGKILL
// under load, while deliveries are in flight, and restarts it on the same
// data directory: every event the bridge answered 202 for must still reach
// Segment, and an event delivered twice must carry the same messageId both
// times so that Segment deduplicates it. The default SQLite warehouse,
// loading beside Segment (group commits, its write-ahead log copied by a
// second connection), must hold every acknowledged event exactly once.
func TestCrashLosesNoAcknowledgedEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("a long fault run (kill -9 under load and a restart); go test without -short runs it")
	}
	// The kill lands between a delivery and its ack, and the restarted
	// bridge sends some again.
	s, env, first, l := processUnderLoad(t, 300)
	first.Signal(t, syscall.SIGKILL)
	ws := first.Wait(t, 10*time.Second)
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("bridge process ended with %v, want killed by SIGKILL", ws)
	}
	atKill, deliveredAtKill := l.Batches(), s.Unique()

	// The load goroutines keep going: their requests fail until the
	// restarted bridge listens again on the same address.
	second, acked, d, dups := restartUnderLoad(t, env, s, l, 100)
	checkWarehouseOnce(t, filepath.Join(env["BRIDGE_DATA_DIR"], "warehouse", "statsig.db"), acked)
	t.Logf("%d requests acknowledged (%d before the kill, %d attempts failed), %d events acknowledged; "+
		"%d events at the sink at the kill; %d distinct events delivered (%d not acknowledged but stored), %d duplicates",
		l.Batches(), atKill, l.Failures(), len(acked), deliveredAtKill, len(d), len(d)-len(acked), dups)

	second.StopGracefully(t, syscall.SIGTERM)
}

// checkWarehouseOnce waits until the SQLite warehouse at path has a row
// for every acknowledged marker, then asserts that no marker has two.
func checkWarehouseOnce(t *testing.T, path string, acked map[string]bool) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows map[string]int
	var readErr error
	missing := func() int {
		rows, readErr = map[string]int{}, nil
		r, err := db.Query("SELECT metadata_seq FROM e2e_event")
		if err != nil {
			readErr = err
			return len(acked)
		}
		defer r.Close()
		for r.Next() {
			var seq string
			if err := r.Scan(&seq); err != nil {
				readErr = err
				return len(acked)
			}
			rows[seq]++
		}
		n := 0
		for m := range acked {
			if rows[m] == 0 {
				n++
			}
		}
		return n
	}
	testwait.For(t, 30*time.Second, "every acknowledged event in the warehouse", func() bool { return missing() == 0 })
	if readErr != nil {
		t.Fatalf("reading the warehouse: %v", readErr)
	}
	for m, n := range rows {
		if n > 1 {
			t.Errorf("event %s has %d rows in the warehouse, want 1", m, n)
		}
	}
	var tracks int
	if err := db.QueryRow("SELECT count(*) FROM tracks").Scan(&tracks); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, n := range rows {
		total += n
	}
	if tracks != total {
		t.Errorf("tracks has %d rows, e2e_event %d: want one tracks row per event row", tracks, total)
	}
	t.Logf("warehouse: %d events, each once (%d acknowledged)", len(rows), len(acked))
}
