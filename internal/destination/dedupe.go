package destination

import (
	"context"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/statsig-bridge/statsig-bridge/internal/queue"
)

// DefaultDedupeCache bounds the exposure keys a process remembers (about
// 200 bytes each, so some 20 MB): repeats of those cost no round trip to
// the log. Memory stays bounded whatever the number of users; the log's
// bucket holds the rest.
const DefaultDedupeCache = 100_000

// ClaimStore records first exposures: queue.Bucket, a JetStream key-value
// bucket whose keys live for the window.
type ClaimStore interface {
	// Claim stores values[i] under keys[i] where a key holds nothing and
	// returns what every key holds afterwards.
	Claim(ctx context.Context, keys []string, values [][]byte) ([]queue.Entry, error)
}

// Dedupe decides which exposures are the first per key within the window
// (dedupe_exposures). The key stores the first exposure's messageId, so a
// redelivered batch (a crash before its ack) delivers that exposure again
// with the same messageId, which Segment deduplicates, and nothing is lost.
type Dedupe struct {
	store  ClaimStore
	window time.Duration
	// cache maps keys known to be claimed to their messageId, until the
	// claim expires.
	cache *lru.Cache[string, claim]
}

type claim struct {
	id    string
	until time.Time
}

// NewDedupe returns a Dedupe over store with the given window, remembering
// at most cacheSize keys in memory (0: DefaultDedupeCache).
func NewDedupe(store ClaimStore, window time.Duration, cacheSize int) *Dedupe {
	if cacheSize <= 0 {
		cacheSize = DefaultDedupeCache
	}
	c, _ := lru.New[string, claim](cacheSize) // errors only for a size ≤ 0
	return &Dedupe{store: store, window: window, cache: c}
}

// First reports, per exposure, whether it is to be delivered: it is the
// first with its key (keys[i]) within the window, or a copy of that first
// one (the same messageId, ids[i]). The keys not in the cache are claimed
// in one pipelined call.
func (d *Dedupe) First(ctx context.Context, keys, ids []string) ([]bool, error) {
	out := make([]bool, len(keys))
	now := time.Now()
	var (
		claimKeys []string
		claimVals [][]byte
		// waiting holds, per key to claim, the exposures that depend on it.
		waiting = map[string][]int{}
	)
	for i, k := range keys {
		if c, ok := d.cache.Get(k); ok && now.Before(c.until) {
			out[i] = c.id == ids[i]
			continue
		}
		if _, ok := waiting[k]; !ok {
			claimKeys = append(claimKeys, k)
			claimVals = append(claimVals, []byte(ids[i]))
		}
		waiting[k] = append(waiting[k], i)
	}
	if len(claimKeys) == 0 {
		return out, nil
	}
	entries, err := d.store.Claim(ctx, claimKeys, claimVals)
	if err != nil {
		return nil, err
	}
	for j, k := range claimKeys {
		winner := string(entries[j].Value)
		created := entries[j].Created
		if created.IsZero() {
			created = now
		}
		d.cache.Add(k, claim{id: winner, until: created.Add(d.window)})
		for _, i := range waiting[k] {
			out[i] = winner == ids[i]
		}
	}
	return out, nil
}
