package destination

import (
	"context"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// DefaultIdentifyCache bounds the users whose last traits a process
// remembers (about 200 bytes each): their repeats cost no round trip.
const DefaultIdentifyCache = 100_000

// TraitsStore keeps the traits hash last sent per user: queue.Bucket, a
// JetStream key-value bucket whose keys live for the identify horizon.
type TraitsStore interface {
	Get(ctx context.Context, keys []string) ([][]byte, error)
	Put(ctx context.Context, keys []string, values [][]byte) error
}

// Identities decides when a user's identify is due (identify: on_change):
// the first time the destination sees them, and when their traits change.
// The traits are recorded only after the destination accepted the
// identify (before the log ack), so a crash in between sends it again, with
// the same messageId, which Segment deduplicates.
type Identities struct {
	store   TraitsStore
	horizon time.Duration
	cache   *lru.Cache[string, sent]
}

type sent struct {
	hash  string
	until time.Time
}

// NewIdentities returns Identities over store, whose keys live for horizon
// (0: forever), remembering at most cacheSize users in memory (0:
// DefaultIdentifyCache).
func NewIdentities(store TraitsStore, horizon time.Duration, cacheSize int) *Identities {
	if cacheSize <= 0 {
		cacheSize = DefaultIdentifyCache
	}
	c, _ := lru.New[string, sent](cacheSize) // errors only for a size ≤ 0
	return &Identities{store: store, horizon: horizon, cache: c}
}

// Due reports, per (unit, traits hash), whether an identify is to be sent:
// the recorded hash differs, and no earlier entry of this call has the
// same unit and hash.
func (d *Identities) Due(ctx context.Context, units, hashes []string) ([]bool, error) {
	out := make([]bool, len(units))
	now := time.Now()
	known := map[string]string{} // unit → hash recorded, for units read here
	var missing []string
	for _, u := range units {
		if _, ok := known[u]; ok {
			continue
		}
		if s, ok := d.cache.Get(u); ok && (d.horizon <= 0 || now.Before(s.until)) {
			known[u] = s.hash
			continue
		}
		known[u] = ""
		missing = append(missing, u)
	}
	if len(missing) > 0 {
		vals, err := d.store.Get(ctx, missing)
		if err != nil {
			return nil, err
		}
		until := now.Add(d.horizon)
		for i, u := range missing {
			known[u] = string(vals[i])
			if vals[i] != nil {
				d.cache.Add(u, sent{hash: string(vals[i]), until: until})
			}
		}
	}
	until := now.Add(d.horizon)
	for i, u := range units {
		if known[u] != hashes[i] {
			out[i] = true
			known[u] = hashes[i] // a repeat in this call is not due again
			// And not in the next fetches while this one is delivered: the
			// log learns the traits only once the destination has them,
			// but this process need not send them again meanwhile.
			d.cache.Add(u, sent{hash: hashes[i], until: until})
		}
	}
	return out, nil
}

// Record stores the traits hashes of identifies the destination accepted.
func (d *Identities) Record(ctx context.Context, units, hashes []string) error {
	vals := make([][]byte, len(hashes))
	for i, h := range hashes {
		vals[i] = []byte(h)
	}
	if err := d.store.Put(ctx, units, vals); err != nil {
		return err
	}
	until := time.Now().Add(d.horizon)
	for i, u := range units {
		d.cache.Add(u, sent{hash: hashes[i], until: until})
	}
	return nil
}

// Forget drops what this process assumed of identifies that were not
// delivered (dead-lettered): Due marks an identify's traits as sent when
// it decides to send them, so that the next fetches do not send them
// again while it is delivered; if it never arrives, the user's next event
// sends it again.
func (d *Identities) Forget(units, hashes []string) {
	for i, u := range units {
		if s, ok := d.cache.Peek(u); ok && s.hash == hashes[i] {
			d.cache.Remove(u)
		}
	}
}
