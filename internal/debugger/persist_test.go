package debugger

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// memStore is a StatsStore in memory that fails when told to.
type memStore struct {
	mu       sync.Mutex
	records  [][]byte
	ids      map[string]bool
	failNext int // publishes to refuse
}

func (m *memStore) PublishStats(_ context.Context, _, msgID string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failNext > 0 {
		m.failNext--
		return errors.New("the log is away")
	}
	if m.ids[msgID] {
		return nil // stored once, as the log's duplicate window does
	}
	m.ids[msgID] = true
	m.records = append(m.records, data)
	return nil
}

func (m *memStore) ReadStats(_ context.Context, _ time.Time, f func([]byte)) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.records {
		f(r)
	}
	return uint64(len(m.records)), nil
}

func (m *memStore) FollowStats(ctx context.Context, _ uint64, _ func(uint64, []byte)) error {
	<-ctx.Done()
	return nil
}

func (m *memStore) delivered() (n uint32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.records {
		var rec minuteRecord
		_ = json.Unmarshal(r, &rec)
		n += rec.First + rec.Retry
	}
	return n
}

// TestStatsStoredOnceAcrossFailures: records that cannot be stored are
// kept and tried again under the same ID, nothing counted twice, and a
// new process reading the store sees exactly what was delivered.
func TestStatsStoredOnceAcrossFailures(t *testing.T) {
	d := New(Options{Destinations: nil})
	d.Recorder = NewRecorder([]string{"segment"}, 0)
	store := &memStore{ids: map[string]bool{}}
	b := &statsig.Batch{ID: "b", ReceivedAt: time.Now().UnixMilli()}
	deliver := func(n int) {
		for range n {
			d.Outcome(destination.Outcome{Destination: "segment", Status: destination.StatusDelivered, Batch: b, Event: &statsig.Event{ID: "e"}, Attempts: 1})
		}
	}
	ctx := context.Background()
	deliver(3)
	store.failNext = 1
	d.storeStats(ctx, store) // refused: kept
	deliver(2)
	d.storeStats(ctx, store) // the kept record, then the new one
	d.storeStats(ctx, store) // nothing new
	if got := store.delivered(); got != 5 {
		t.Errorf("the store holds %d deliveries, want 5", got)
	}
	again := New(Options{})
	again.Recorder = NewRecorder([]string{"segment"}, 0)
	if _, err := store.ReadStats(ctx, time.Time{}, func(data []byte) { again.mergeRecord(data, "") }); err != nil {
		t.Fatal(err)
	}
	if got := again.stats[0].window(Windows["24h"], time.Now()).counts.Delivered; got != 5 {
		t.Errorf("a new process reads %d deliveries, want 5", got)
	}
}
