package destination

import (
	"context"
	"sync"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/queue"
)

// MemoryState is a ClaimStore and TraitsStore in process memory, starting
// empty and never expiring: what preview uses to show dedupe_exposures and
// identify over its input as a bridge that has seen none of it before. The
// bridge itself keeps its state in the log (queue.Bucket).
type MemoryState struct {
	mu sync.Mutex
	m  map[string][]byte
}

// NewMemoryState returns an empty MemoryState.
func NewMemoryState() *MemoryState { return &MemoryState{m: map[string][]byte{}} }

// Claim implements ClaimStore.
func (s *MemoryState) Claim(_ context.Context, keys []string, values [][]byte) ([]queue.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]queue.Entry, len(keys))
	for i, k := range keys {
		if v, ok := s.m[k]; ok {
			out[i] = queue.Entry{Value: v, Created: time.Now()}
			continue
		}
		s.m[k] = values[i]
		out[i] = queue.Entry{Value: values[i], Created: time.Now(), Mine: true}
	}
	return out, nil
}

// Get implements TraitsStore.
func (s *MemoryState) Get(_ context.Context, keys []string) ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = s.m[k]
	}
	return out, nil
}

// Put implements TraitsStore.
func (s *MemoryState) Put(_ context.Context, keys []string, values [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, k := range keys {
		s.m[k] = values[i]
	}
	return nil
}
