package e2e

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// sdkEvent is one event of an SDK request built by a test.
type sdkEvent struct {
	EventName string            `json:"eventName"`
	User      map[string]any    `json:"user"`
	Time      int64             `json:"time"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	Value     any               `json:"value,omitempty"`
}

// gateExposure is an exposure of gate to userID with the given value and
// rule, at a time in ms that makes it a distinct event (another time, another
// event ID: an SDK logging the exposure again).
func gateExposure(userID, gate, value, rule string, at int64) sdkEvent {
	return sdkEvent{EventName: "statsig::gate_exposure", User: map[string]any{"userID": userID}, Time: at,
		Metadata: map[string]string{"gate": gate, "gateValue": value, "ruleID": rule}}
}

// customEvent is a custom event of userID.
func customEvent(userID, name string, at int64) sdkEvent {
	return sdkEvent{EventName: name, User: map[string]any{"userID": userID}, Time: at, Value: 1}
}

// eventsBody is an SDK log_event request body of events.
func eventsBody(t testing.TB, events ...sdkEvent) []byte {
	t.Helper()
	body, err := json.Marshal(map[string]any{"events": events,
		"statsigMetadata": map[string]string{"sdkType": "e2e", "sdkVersion": "1.0.0"}})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// exposureKeyOf names a delivered gate exposure: user/gate/value/rule.
func exposureKeyOf(m map[string]any) string {
	props, _ := m["properties"].(map[string]any)
	md, _ := props["metadata"].(map[string]any)
	return fmt.Sprintf("%v/%v/%v/%v", m["userId"], md["gate"], md["gateValue"], md["ruleID"])
}

// warehouseDB opens the SQLite warehouse of schema in dataDir.
func warehouseDB(t testing.TB, dataDir, schema string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "warehouse", schema+".db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// countRows runs a count query, -1 while the table does not exist yet.
func countRows(db *sql.DB, q string, args ...any) int {
	var n int
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		return -1
	}
	return n
}

// msAgo is a time in ms, d before now: events of one test get distinct
// times.
func msAgo(d time.Duration) int64 { return time.Now().Add(-d).UnixMilli() }

// metricsText is the bridge's /metrics page.
func metricsText(t testing.TB, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading /metrics: %v", err)
	}
	return string(b)
}

// sorted returns s sorted.
func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }
