package e2e

import (
	"database/sql"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// TestDefaultServeLoadsTheSQLiteWarehouse: with no configuration at all
// the bridge keeps a SQLite warehouse in its data dir, so the first events
// are already queryable.
func TestDefaultServeLoadsTheSQLiteWarehouse(t *testing.T) {
	parallel(t)
	cfg := testConfigEnv(t, "", nil)
	if len(cfg.Destinations) != 1 || cfg.Destinations[0].Type != "warehouse" {
		t.Fatalf("default destinations: %+v, want the SQLite warehouse", cfg.Destinations)
	}
	for i := range cfg.Destinations {
		cfg.Destinations[i].Delivery.FlushInterval = 100 * time.Millisecond
	}
	b := startBridge(t, cfg)
	if resp := fixtureRequest(t, b.URL, "go-sdk", "log_event-1"); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("intake answered %d", resp.StatusCode)
	}
	path := filepath.Join(cfg.DataDir, "warehouse", "statsig.db")
	if cfg.Destinations[0].Warehouse.DSN != path {
		t.Fatalf("SQLite file %s, want %s", cfg.Destinations[0].Warehouse.DSN, path)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func(q string) int {
		var n int
		if err := db.QueryRow(q).Scan(&n); err != nil {
			return -1
		}
		return n
	}
	testwait.For(t, 20*time.Second, "32 rows in tracks", func() bool { return count("SELECT count(*) FROM tracks") == 32 })
	if n := count("SELECT count(*) FROM statsig_gate_exposure WHERE metadata_gate = 'sdk_checkout_gate'"); n != 8 {
		t.Errorf("%d gate exposures of sdk_checkout_gate, want 8", n)
	}
	// received_at is the bridge's arrival time, uuid_ts the load time.
	var received, loaded string
	if err := db.QueryRow("SELECT received_at, uuid_ts FROM tracks LIMIT 1").Scan(&received, &loaded); err != nil {
		t.Fatal(err)
	}
	r, err1 := time.Parse(time.RFC3339, received)
	l, err2 := time.Parse(time.RFC3339, loaded)
	if err1 != nil || err2 != nil || time.Since(r) > time.Minute || l.Before(r) {
		t.Errorf("received_at %s, uuid_ts %s: want a recent arrival and a load after it", received, loaded)
	}
}
