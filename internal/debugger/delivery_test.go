package debugger_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

type deliveryView struct {
	Window       string `json:"window"`
	Destinations []struct {
		Name      string  `json:"name"`
		Type      string  `json:"type"`
		Paused    bool    `json:"paused"`
		LastError string  `json:"lastError"`
		Lag       *uint64 `json:"lag"`
		Counts    struct {
			Delivered, DeliveredFirstTry, DeliveredRetry, Filtered, DeadLettered, Retrying, FailedRequests int
		} `json:"counts"`
		Latency struct {
			P50, P95, P99 float64
			Count         int
		} `json:"latency"`
		Reasons []struct {
			Reason, Type, LastSeen string
			Count                  int
			Sample                 struct {
				EventID   string          `json:"eventId"`
				EventName string          `json:"eventName"`
				Detail    string          `json:"detail"`
				Payload   json.RawMessage `json:"payload"`
				Event     json.RawMessage `json:"event"`
			}
		} `json:"reasons"`
		Series []struct {
			T                                 string
			Delivered, DeadLettered, Filtered int
		} `json:"series"`
	} `json:"destinations"`
}

func delivery(t *testing.T, b *bridge, window string) deliveryView {
	t.Helper()
	var v deliveryView
	getJSON(t, b.URL+"/api/delivery?window="+window, http.StatusOK, &v)
	return v
}

func redrive(t *testing.T, b *bridge, name string, code int) map[string]any {
	t.Helper()
	resp, err := http.Post(b.URL+"/api/destinations/"+name+"/redrive", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != code {
		t.Fatalf("redrive %s = %d, want %d: %s", name, resp.StatusCode, code, body)
	}
	var v map[string]any
	_ = json.Unmarshal(body, &v)
	return v
}

// TestDeliveryOutageDeadLetterAndRedrive: a destination answering 503
// then 200 shows retried deliveries and the 503s grouped; an event it
// refuses (400) is a dead letter grouped by reason with a sample; after the
// fix, the re-drive delivers it with the same messageId and deletes it.
func TestDeliveryOutageDeadLetterAndRedrive(t *testing.T) {
	seg := newSink(t)
	var outage atomic.Bool
	outage.Store(true)
	seg.Respond(func(body []byte, n int) int {
		switch {
		case outage.Load() || n < 3:
			return http.StatusServiceUnavailable
		case bytes.Contains(body, []byte("poison")):
			return http.StatusBadRequest
		}
		return http.StatusOK
	})
	b := startBridge(t, "listen: 127.0.0.1:0\ndata_dir: DATADIR\ndestinations:\n"+destinationYAML("segment", seg.URL, ""))
	post(t, b, custom("buy", "u1"), custom("buy", "u2"))
	var v deliveryView
	testwait.For(t, 10*time.Second, "two events retrying during the outage", func() bool {
		v = delivery(t, b, "10m")
		d := v.Destinations[0]
		return d.Counts.Retrying == 2 && d.Counts.FailedRequests >= 3 && d.LastError != ""
	})
	if d := v.Destinations[0]; d.Counts.Delivered != 0 || d.Paused || !strings.Contains(d.LastError, "503") {
		t.Errorf("during the outage: %+v", d)
	}
	outage.Store(false)
	testwait.For(t, 10*time.Second, "both events delivered after the outage", func() bool { return len(seg.Messages()) == 2 })

	testwait.For(t, 5*time.Second, "delivery counts", func() bool {
		v = delivery(t, b, "10m")
		return len(v.Destinations) == 1 && v.Destinations[0].Counts.Delivered == 2
	})
	d := v.Destinations[0]
	if v.Window != "10m" || d.Name != "segment" || d.Type != "segment" || d.Counts.DeliveredRetry != 2 || d.Counts.DeliveredFirstTry != 0 ||
		d.Counts.FailedRequests < 3 || d.Counts.Retrying != 0 || d.Paused || d.LastError != "" {
		t.Errorf("after the outage: %+v", d)
	}
	if d.Lag == nil {
		t.Error("lag missing")
	}
	if d.Latency.Count != 2 || d.Latency.P50 <= 0 || d.Latency.P99 < d.Latency.P50 {
		t.Errorf("latency %+v", d.Latency)
	}
	if len(d.Reasons) != 1 || d.Reasons[0].Reason != "http_503" || d.Reasons[0].Type != "retry" || d.Reasons[0].Count != d.Counts.FailedRequests || d.Reasons[0].Sample.Detail == "" {
		t.Errorf("reasons %+v", d.Reasons)
	}
	if len(d.Series) != 60 {
		t.Errorf("10m series has %d points, want 60", len(d.Series))
	}
	sum := 0
	for _, p := range d.Series {
		sum += p.Delivered
	}
	if sum != 2 {
		t.Errorf("series delivers %d, want 2", sum)
	}
	if h := delivery(t, b, "24h"); len(h.Destinations[0].Series) != 96 || h.Destinations[0].Counts.Delivered != 2 {
		t.Errorf("24h: %d points, %d delivered", len(h.Destinations[0].Series), h.Destinations[0].Counts.Delivered)
	}
	getJSON(t, b.URL+"/api/delivery?window=2d", http.StatusBadRequest, nil)

	// A refused event becomes a dead letter, grouped with a sample.
	post(t, b, custom("poison", "u3"))
	testwait.For(t, 10*time.Second, "a dead letter", func() bool {
		v = delivery(t, b, "1h")
		return v.Destinations[0].Counts.DeadLettered == 1
	})
	var dl *struct {
		Reason, Type, LastSeen string
		Count                  int
		Sample                 struct {
			EventID   string          `json:"eventId"`
			EventName string          `json:"eventName"`
			Detail    string          `json:"detail"`
			Payload   json.RawMessage `json:"payload"`
			Event     json.RawMessage `json:"event"`
		}
	}
	for i, r := range v.Destinations[0].Reasons {
		if r.Type == "dead_letter" {
			dl = &v.Destinations[0].Reasons[i]
		}
	}
	if dl == nil || dl.Reason != "rejected_by_destination" || dl.Count != 1 || dl.Sample.EventName != "poison" || dl.LastSeen == "" {
		t.Fatalf("dead-letter reasons %+v", v.Destinations[0].Reasons)
	}
	var payload struct {
		MessageID string `json:"messageId"`
	}
	if err := json.Unmarshal(dl.Sample.Payload, &payload); err != nil || payload.MessageID != dl.Sample.EventID {
		t.Errorf("sample payload %s (%v)", dl.Sample.Payload, err)
	}
	poisonID := dl.Sample.EventID
	var samples struct{ Samples []map[string]any }
	getJSON(t, b.URL+"/api/delivery/segment/reasons/dead_letter/rejected_by_destination", http.StatusOK, &samples)
	if len(samples.Samples) != 1 || samples.Samples[0]["eventId"] != poisonID {
		t.Errorf("samples %+v", samples)
	} else if d, _ := samples.Samples[0]["detail"].(string); !strings.HasPrefix(d, "HTTP 400") {
		t.Errorf("dead-letter sample's detail %q does not keep the destination's status (Segment check 20)", d)
	}
	getJSON(t, b.URL+"/api/delivery/nobody/reasons/dead_letter/x", http.StatusNotFound, nil)
	var detail eventDetail
	getJSON(t, b.URL+"/api/events/"+poisonID, http.StatusOK, &detail)
	if o := detail.Outputs[0]; o.Status != "dead_lettered" || o.Reason != "rejected_by_destination" {
		t.Errorf("poison output %+v", o)
	}

	// Fixed: the re-drive delivers it, same messageId, and deletes it.
	seg.Respond(func([]byte, int) int { return http.StatusOK })
	if got := redrive(t, b, "segment", http.StatusOK); got["redriven"] != 1.0 || got["left"] != 0.0 {
		t.Fatalf("redrive answered %v", got)
	}
	found := 0
	for _, m := range seg.Messages() {
		if m["messageId"] == poisonID && m["event"] == "poison" {
			found++
		}
	}
	if found != 1 {
		t.Errorf("the re-driven event arrived %d times with messageId %s", found, poisonID)
	}
	if got := redrive(t, b, "segment", http.StatusOK); got["redriven"] != 0.0 {
		t.Errorf("second redrive answered %v; the dead letter should be gone", got)
	}
	getJSON(t, b.URL+"/api/events/"+poisonID, http.StatusOK, &detail)
	if o := detail.Outputs[0]; o.Status != "delivered" {
		t.Errorf("after the re-drive the event shows %+v", o)
	}
	redrive(t, b, "nobody", http.StatusNotFound)
}
