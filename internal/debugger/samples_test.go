package debugger

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// TestReasonKeepsTenSamples (Segment conformance check 55): fifteen dead
// letters of one reason, seconds apart, are one reason with Count 15 and
// Last Seen the newest, and it keeps the newest ten samples (newest first),
// each with what was sent and the destination's answer.
func TestReasonKeepsTenSamples(t *testing.T) {
	s := newDestStats()
	base := time.Now().Truncate(time.Second).Add(-time.Minute)
	for i := range 15 {
		s.add(&destination.Outcome{
			Status:  destination.StatusDeadLettered,
			Reason:  "rejected_by_destination",
			Note:    fmt.Sprintf("HTTP 400: bad event %d", i),
			Event:   &statsig.Event{ID: fmt.Sprint("ev-", i), EventName: "e"},
			Payload: []byte(fmt.Sprintf(`{"type":"track","messageId":"ev-%d"}`, i)),
		}, base.Add(time.Duration(i)*2*time.Second))
	}
	var ids []string
	for _, raw := range s.samplesOf("dead_letter", "rejected_by_destination") {
		var smp struct {
			EventID string `json:"eventId"`
			Detail  string `json:"detail"`
			Payload struct {
				MessageID string `json:"messageId"`
			} `json:"payload"`
		}
		if err := json.Unmarshal(raw, &smp); err != nil {
			t.Fatal(err)
		}
		if smp.Detail != "HTTP 400: bad event "+smp.EventID[len("ev-"):] {
			t.Errorf("sample %s: detail %q, want the destination's answer", smp.EventID, smp.Detail)
		}
		if smp.Payload.MessageID != smp.EventID {
			t.Errorf("sample %s: payload messageId %q, want what was sent", smp.EventID, smp.Payload.MessageID)
		}
		ids = append(ids, smp.EventID)
	}
	var want []string
	for i := 14; i >= 5; i-- {
		want = append(want, fmt.Sprint("ev-", i))
	}
	if !slices.Equal(ids, want) {
		t.Errorf("samples %q, want the newest ten %q", ids, want)
	}
	w := s.window(Windows["1h"], base.Add(time.Minute))
	if len(w.reasons) != 1 {
		t.Fatalf("reasons %+v, want one", w.reasons)
	}
	r := w.reasons[0]
	if r.Count != 15 || r.Samples != 10 || r.LastSeen != formatTime(base.Add(28*time.Second)) {
		t.Errorf("reason %+v, want count 15, 10 samples, last seen %s", r, formatTime(base.Add(28*time.Second)))
	}
}
