package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// dayCounts reads the Delivery view's last 24 hours of one destination.
type dayCounts struct {
	Delivered, DeadLettered uint64
	LatencyCount            uint64
	Reasons                 map[string]uint64
}

func deliveryDay(t *testing.T, base, dest string) dayCounts {
	t.Helper()
	resp, err := http.Get(base + "/api/delivery?window=24h")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		Destinations []struct {
			Name   string `json:"name"`
			Counts struct {
				Delivered    uint64 `json:"delivered"`
				DeadLettered uint64 `json:"deadLettered"`
			} `json:"counts"`
			Latency struct {
				Count uint64 `json:"count"`
			} `json:"latency"`
			Reasons []struct {
				Reason string `json:"reason"`
				Count  uint64 `json:"count"`
			} `json:"reasons"`
		} `json:"destinations"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	for _, d := range v.Destinations {
		if d.Name == dest {
			out := dayCounts{Delivered: d.Counts.Delivered, DeadLettered: d.Counts.DeadLettered, LatencyCount: d.Latency.Count, Reasons: map[string]uint64{}}
			for _, r := range d.Reasons {
				out.Reasons[r.Reason] += r.Count
			}
			return out
		}
	}
	t.Fatalf("no destination %s in the delivery view", dest)
	return dayCounts{}
}

// TestDeliveryViewKeepsTheDayAcrossARestart (issue 15.10): the Delivery
// view's counts, latency and delivery issues of the last 24 h are kept in
// the log's engine, so a restarted bridge shows the same day, before any new
// event arrives.
func TestDeliveryViewKeepsTheDayAcrossARestart(t *testing.T) {
	parallel(t)
	s := newSink(t)
	cfg := testConfig(t, s.URL)
	b := startBridge(t, cfg)
	body, markers := sdkBody(0, 0, 30)
	mustPost(t, b.URL, body)
	mustPost(t, b.URL, sdkRequest("no-identity", btEvent{name: "anonymous_click"}, btEvent{name: "anonymous_click"}))
	want := map[string]bool{}
	for _, m := range markers {
		want[m] = true
	}
	waitDelivered(t, s, want, 10*time.Second)
	var before dayCounts
	testwait.For(t, 10*time.Second, "30 delivered and 2 dead-lettered in the view", func() bool {
		before = deliveryDay(t, b.URL, "segment")
		return before.Delivered == 30 && before.DeadLettered == 2
	})
	b.Stop()

	again := startBridge(t, cfg) // the same data dir: the same log
	var after dayCounts
	testwait.For(t, 10*time.Second, "the day's counts back after the restart", func() bool {
		after = deliveryDay(t, again.URL, "segment")
		return after.Delivered == before.Delivered
	})
	if after.DeadLettered != 2 || after.LatencyCount != before.LatencyCount || after.Reasons["no_user_anon_id"] != 2 {
		t.Errorf("after the restart: %+v, before: %+v", after, before)
	}
}

// TestDeliveryViewSumsEveryProcess (issue 15.10): two bridges on one
// external JetStream share a destination; each one's Delivery view shows
// what both delivered.
func TestDeliveryViewSumsEveryProcess(t *testing.T) {
	parallel(t)
	url := externalNATSURL(t)
	s := newSink(t)
	id := fmt.Sprintf("stats_%d_%d", os.Getpid(), time.Now().UnixNano())
	dropLogStreams(t, url, "E2E_STATS_"+id, "E2E_STATS_DL_"+id)
	var bridges []*bridge
	for range 2 {
		cfg := testConfig(t, s.URL)
		cfg.Log.NATSURL, cfg.Log.MaxBytes = url, 64<<20
		cfg.Log.Stream, cfg.Log.Subject = "E2E_STATS_"+id, "e2e."+id+".events"
		cfg.Log.DeadLetterStream, cfg.Log.DeadLetterSubject = "E2E_STATS_DL_"+id, "e2e."+id+".deadletter"
		cfg.UI.StatsInterval = 100 * time.Millisecond
		bridges = append(bridges, startBridge(t, cfg))
	}
	want := map[string]bool{}
	for i, b := range bridges {
		body, markers := sdkBody(i, 0, 20)
		mustPost(t, b.URL, body)
		for _, m := range markers {
			want[m] = true
		}
	}
	waitDelivered(t, s, want, 10*time.Second)
	for i, b := range bridges {
		testwait.For(t, 10*time.Second, fmt.Sprintf("bridge %d showing all 40 deliveries", i), func() bool {
			return deliveryDay(t, b.URL, "segment").Delivered == 40
		})
		t.Logf("bridge %d: %+v", i, deliveryDay(t, b.URL, "segment"))
	}
}
