package debugger_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

type summary struct {
	ID         string            `json:"id"`
	ReceivedAt string            `json:"receivedAt"`
	EventName  string            `json:"eventName"`
	Kind       string            `json:"kind"`
	UserID     string            `json:"userId"`
	StableID   string            `json:"stableId"`
	Source     string            `json:"source"`
	SDKType    string            `json:"sdkType"`
	Outcomes   map[string]string `json:"outcomes"`
}

type eventList struct {
	Events   []summary `json:"events"`
	Total    int       `json:"total"`
	Capacity int       `json:"capacity"`
}

type eventDetail struct {
	Event   summary         `json:"event"`
	Raw     json.RawMessage `json:"raw"`
	Request struct {
		Source     string  `json:"source"`
		SDKType    string  `json:"sdkType"`
		SDKVersion string  `json:"sdkVersion"`
		ReceivedAt string  `json:"receivedAt"`
		ClientTime *string `json:"clientTime"`
	} `json:"request"`
	Outputs []struct {
		Destination string          `json:"destination"`
		Status      string          `json:"status"`
		Reason      string          `json:"reason"`
		Note        string          `json:"note"`
		Attempts    int             `json:"attempts"`
		At          *string         `json:"at"`
		Payload     json.RawMessage `json:"payload"`
	} `json:"outputs"`
}

func events(t *testing.T, b *bridge, query string) eventList {
	t.Helper()
	var l eventList
	getJSON(t, b.URL+"/api/events?"+query, http.StatusOK, &l)
	return l
}

func settled(s summary) bool {
	for _, st := range s.Outcomes {
		if st == "pending" {
			return false
		}
	}
	return true
}

// TestEventsShowOutputsPerDestination: each event lists, per destination,
// the message delivered, why it was filtered, or why it was dead-lettered;
// the list searches and filters.
func TestEventsShowOutputsPerDestination(t *testing.T) {
	seg, gates := newSink(t), newSink(t)
	b := startBridge(t, `listen: 127.0.0.1:0
data_dir: DATADIR
destinations:
`+destinationYAML("segment", seg.URL, "")+destinationYAML("gates", gates.URL, "    mapping: {types: [gate_exposure]}\n"))
	post(t, b, custom("checkout", "u1"), custom("anonymous_click", ""), gate("u2"))

	var l eventList
	testwait.For(t, 10*time.Second, "three settled events", func() bool {
		l = events(t, b, "")
		return len(l.Events) == 3 && settled(l.Events[0]) && settled(l.Events[1]) && settled(l.Events[2])
	})
	if l.Total != 3 || l.Capacity != 500 {
		t.Errorf("total %d capacity %d, want 3 and 500", l.Total, l.Capacity)
	}
	// Newest first: the batch's last event leads.
	names := []string{l.Events[0].EventName, l.Events[1].EventName, l.Events[2].EventName}
	if fmt.Sprint(names) != "[statsig::gate_exposure anonymous_click checkout]" {
		t.Fatalf("order %v", names)
	}
	byName := map[string]summary{}
	for _, e := range l.Events {
		byName[e.EventName] = e
	}
	want := map[string]map[string]string{
		"checkout":               {"segment": "delivered", "gates": "filtered"},
		"anonymous_click":        {"segment": "dead_lettered", "gates": "filtered"},
		"statsig::gate_exposure": {"segment": "delivered", "gates": "delivered"},
	}
	for name, outcomes := range want {
		if got := byName[name].Outcomes; fmt.Sprint(got) != fmt.Sprint(outcomes) {
			t.Errorf("%s outcomes %v, want %v", name, got, outcomes)
		}
	}
	c := byName["checkout"]
	if c.Kind != "custom" || c.UserID != "u1" || c.StableID != "stable-u1" || c.Source != "sdk" || c.SDKType != "test-sdk" || c.ReceivedAt == "" {
		t.Errorf("checkout summary %+v", c)
	}
	if g := byName["statsig::gate_exposure"]; g.Kind != "gate_exposure" {
		t.Errorf("gate kind %q", g.Kind)
	}

	var d eventDetail
	getJSON(t, b.URL+"/api/events/"+c.ID, http.StatusOK, &d)
	var raw struct {
		ID        string `json:"id"`
		EventName string `json:"eventName"`
		User      struct {
			UserID string `json:"userID"`
		} `json:"user"`
	}
	if err := json.Unmarshal(d.Raw, &raw); err != nil || raw.ID != c.ID || raw.EventName != "checkout" || raw.User.UserID != "u1" {
		t.Errorf("raw %s (%v)", d.Raw, err)
	}
	if d.Request.SDKType != "test-sdk" || d.Request.SDKVersion != "1.0" || d.Request.Source != "sdk" {
		t.Errorf("request %+v", d.Request)
	}
	if len(d.Outputs) != 2 || d.Outputs[0].Destination != "segment" || d.Outputs[1].Destination != "gates" {
		t.Fatalf("outputs %+v", d.Outputs)
	}
	var msg struct {
		MessageID string `json:"messageId"`
		Event     string `json:"event"`
		UserID    string `json:"userId"`
		Type      string `json:"type"`
	}
	out := d.Outputs[0]
	if err := json.Unmarshal(out.Payload, &msg); err != nil || out.Status != "delivered" || msg.MessageID != c.ID || msg.Event != "checkout" || msg.UserID != "u1" || msg.Type != "track" {
		t.Errorf("segment output %+v payload %s (%v)", out, out.Payload, err)
	}
	if out.Attempts != 1 || out.At == nil {
		t.Errorf("segment output attempts %d at %v", out.Attempts, out.At)
	}
	if g := d.Outputs[1]; g.Status != "filtered" || g.Reason != "event type custom not selected" || string(g.Payload) != "null" {
		t.Errorf("gates output %+v", g)
	}

	getJSON(t, b.URL+"/api/events/"+byName["anonymous_click"].ID, http.StatusOK, &d)
	if dl := d.Outputs[0]; dl.Status != "dead_lettered" || dl.Reason != "no_user_anon_id" {
		t.Errorf("dead-letter output %+v", dl)
	}

	for _, c := range []struct {
		query string
		want  string
	}{
		{"q=PRO", "[checkout]"}, // the raw JSON, any case: only checkout has plan=pro
		{"type=gate_exposure", "[statsig::gate_exposure]"},
		{"name=CHECK", "[checkout]"},
		{"user=stable-u1", "[checkout]"},
		{"user=u2", "[statsig::gate_exposure]"},
		{"limit=1", "[statsig::gate_exposure]"},
		{"type=custom&name=click", "[anonymous_click]"},
		// Property values only (Segment conformance check 52): plan=pro is
		// checkout's metadata; "plan" is a name and u2 a user, not values.
		{"value=PRO", "[checkout]"},
		{"value=new_check", "[statsig::gate_exposure]"},
		{"value=plan", "[]"},
		{"q=plan", "[checkout]"},
		{"value=u2", "[]"},
		// Allowed: some destination takes the event (segment, each one
		// here, even the dead letter); none is blocked by every one.
		{"status=allowed", "[statsig::gate_exposure anonymous_click checkout]"},
		{"status=blocked", "[]"},
		{"status=allowed&type=custom&value=pro", "[checkout]"},
	} {
		l := events(t, b, c.query)
		var got []string
		for _, e := range l.Events {
			got = append(got, e.EventName)
		}
		if fmt.Sprint(got) != c.want || l.Total != 3 {
			t.Errorf("%s: %v (total %d), want %s", c.query, got, l.Total, c.want)
		}
	}
	getJSON(t, b.URL+"/api/events/00000000-0000-0000-0000-000000000000", http.StatusNotFound, nil)
	getJSON(t, b.URL+"/api/events?limit=x", http.StatusBadRequest, nil)
	getJSON(t, b.URL+"/api/events?status=maybe", http.StatusBadRequest, nil)

	// Config, masked.
	resp, err := http.Get(b.URL + "/api/config")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"write_key":"****"`) || strings.Contains(string(body), `"wk"`) {
		t.Errorf("config not masked: %s", body)
	}
	// The pages.
	for _, p := range []string{"/", "/ui/api.js"} {
		resp, err := http.Get(b.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(body) == 0 {
			t.Errorf("GET %s = %d (%d bytes)", p, resp.StatusCode, len(body))
		}
	}
}

// TestRingKeepsNewest500 sends 600 events: the newest 500 stay.
func TestRingKeepsNewest500(t *testing.T) {
	seg := newSink(t)
	b := startBridge(t, "listen: 127.0.0.1:0\ndata_dir: DATADIR\ndestinations:\n"+destinationYAML("segment", seg.URL, ""))
	for r := range 6 {
		var evs []string
		for i := range 100 {
			evs = append(evs, custom(fmt.Sprintf("ring-%03d", r*100+i), "u1"))
		}
		post(t, b, evs...)
	}
	l := events(t, b, "limit=500")
	if l.Total != 500 || len(l.Events) != 500 {
		t.Fatalf("total %d, listed %d; want 500", l.Total, len(l.Events))
	}
	if l.Events[0].EventName != "ring-599" || l.Events[499].EventName != "ring-100" {
		t.Errorf("ring holds %s … %s, want ring-599 … ring-100", l.Events[0].EventName, l.Events[499].EventName)
	}
	if got := events(t, b, "name=ring-099"); len(got.Events) != 0 {
		t.Errorf("ring-099 still listed")
	}
	if got := events(t, b, "limit=1000"); len(got.Events) != 500 {
		t.Errorf("limit above capacity listed %d", len(got.Events))
	}
	// Outcomes arrive for events in the ring.
	testwait.For(t, 10*time.Second, "the newest event delivered", func() bool {
		return events(t, b, "name=ring-599").Events[0].Outcomes["segment"] == "delivered"
	})
}
