package destination_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// gateExposures makes n exposures of one gate with one outcome to user.
func gateExposures(prefix, user string, n int) []statsig.Event {
	out := make([]statsig.Event, n)
	for i := range out {
		out[i] = statsig.Event{ID: prefix + "-" + string(rune('a'+i)), EventName: statsig.GateExposure, Time: 1795534342000 + int64(i),
			User: &statsig.User{UserID: statsig.FlexString(user)}, Metadata: json.RawMessage(`{"gate":"g","gateValue":"true","ruleID":"r"}`)}
	}
	return out
}

// TestRunnerDedupeStateDownDeliversAll: when the dedupe state cannot be
// reached (its connection closed), the runner delivers every exposure,
// counts the fetch in state_errors_total, and acks: nothing is held or
// lost for want of the state.
func TestRunnerDedupeStateDownDeliversAll(t *testing.T) {
	l := openLog(t)
	stateLog := openLog(t)
	ctx := context.Background()
	bucket, err := stateLog.StateBucket(ctx, "DEDUPE", destName, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := stateLog.Close(); err != nil {
		t.Fatal(err)
	}
	recv := newReceiver(t)
	metrics := destination.NewMetrics(prometheus.NewRegistry())
	startRunner(t, l, recv, runnerOptions{Metrics: metrics,
		Mapper: mapping.New(mappingconfig.Options{DedupeExposures: mappingconfig.Window(time.Hour)}, nil, mapping.Library{Name: "statsig-bridge", Version: "test"}),
		Dedupe: destination.NewDedupe(bucket, time.Hour, 0)})
	publish(t, l, "b1", gateExposures("e", "u1", 3))
	testwait.For(t, 20*time.Second, "all three exposures delivered", func() bool { return recv.Unique() == 3 })
	waitForLagZero(t, l, defaultAckWait)
	var m dto.Metric
	if err := metrics.StateErrors.WithLabelValues(destName, "dedupe").Write(&m); err != nil {
		t.Fatal(err)
	}
	if n := m.GetCounter().GetValue(); n < 1 {
		t.Errorf("state_errors_total = %v, want the fetch counted", n)
	}
}

// TestRunnerDedupeRedeliveredFirstExposure: a batch whose exposures were
// claimed and not acked (a crash) is delivered in full when redelivered,
// its repeats in another batch are not.
func TestRunnerDedupeRedeliveredFirstExposure(t *testing.T) {
	l := openLog(t)
	bucket, err := l.StateBucket(context.Background(), "DEDUPE", destName, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// The claim a crashed process made before delivering.
	first := gateExposures("first", "u1", 1)
	key := mapping.ExposureKey(&first[0], "u1")
	if _, err := bucket.Claim(context.Background(), []string{key}, [][]byte{[]byte(first[0].ID)}); err != nil {
		t.Fatal(err)
	}
	recv := newReceiver(t)
	startRunner(t, l, recv, runnerOptions{
		Mapper: mapping.New(mappingconfig.Options{DedupeExposures: mappingconfig.Window(time.Hour)}, nil, mapping.Library{Name: "statsig-bridge", Version: "test"}),
		Dedupe: destination.NewDedupe(bucket, time.Hour, 0)})
	publish(t, l, "repeat", gateExposures("repeat", "u1", 2)) // other SDK instances' copies
	publish(t, l, "first", first)                             // the batch the crash left unacked
	waitForLagZero(t, l, defaultAckWait)
	got := recv.Delivered()
	if len(got) != 1 || got[first[0].ID] != 1 {
		t.Errorf("delivered %v, want only the first exposure %s", got, first[0].ID)
	}
}

// TestRunnerIdentifyDeadLetteredIsSentAgain: an identify the destination
// refused (dead-lettered) is not taken as sent: the user's next event
// brings it again, with the same messageId.
func TestRunnerIdentifyDeadLetteredIsSentAgain(t *testing.T) {
	l := openLog(t)
	ctx := context.Background()
	bucket, err := l.StateBucket(ctx, "IDENT", destName, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	recv := newReceiver(t)
	var refuse atomic.Bool
	refuse.Store(true)
	recv.Respond(func(names []string) int {
		if refuse.Load() && slices.Contains(names, "") { // an identify has no event name
			return http.StatusBadRequest
		}
		return http.StatusOK
	})
	startRunner(t, l, recv, runnerOptions{
		Mapper:     mapping.New(mappingconfig.Options{Identify: mappingconfig.IdentifyOnChange}, nil, mapping.Library{Name: "statsig-bridge", Version: "test"}),
		Identities: destination.NewIdentities(bucket, time.Hour, 0),
	})
	user := func(id string) statsig.Event {
		return statsig.Event{ID: id, EventName: "clicked", Time: 1795534342000,
			User: &statsig.User{UserID: "u1", Email: "ada@example.com"}}
	}
	identifies := func() (all, delivered []string) {
		for _, r := range recv.Requests() {
			for i, name := range r.Names {
				if name == "" {
					all = append(all, r.IDs[i])
					if r.Code/100 == 2 {
						delivered = append(delivered, r.IDs[i])
					}
				}
			}
		}
		return all, delivered
	}
	publish(t, l, "b1", []statsig.Event{user("e1")})
	testwait.For(t, 20*time.Second, "the identify refused and dead-lettered, the event delivered", func() bool {
		return recv.Unique() == 1 && len(deadLetters(t, l)) == 1
	})
	refuse.Store(false)
	publish(t, l, "b2", []statsig.Event{user("e2")})
	testwait.For(t, 20*time.Second, "the second event delivered", func() bool { return recv.Unique() >= 2 })
	waitForLagZero(t, l, defaultAckWait)
	all, delivered := identifies()
	if len(delivered) != 1 || len(all) < 2 || all[0] != delivered[0] {
		t.Errorf("identifies sent %v, delivered %v: want the refused one sent again with its messageId and delivered", all, delivered)
	}
}
