package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// stateChunk bounds the publishes one Claim or Put has in flight: well
// under the client's async-publish window, so a large batch never stalls.
const stateChunk = 1024

// stateGetters bounds the concurrent reads of one Get.
const stateGetters = 32

// Bucket is a destination's state in the log's engine: a JetStream
// key-value bucket named <stream>_<PURPOSE>_<destination>. The embedded log
// keeps it in its data dir, so it survives restarts; on an external log
// every bridge process sharing the stream shares it. Keys must be KV-legal
// (callers use hex digests, never raw identifiers).
type Bucket struct {
	js jetstream.JetStream
	// kv is replaced by recreate while other goroutines read it.
	kvMu   sync.Mutex
	kv     jetstream.KeyValue
	cfg    jetstream.KeyValueConfig
	name   string
	prefix string // the keys' subject prefix, "$KV.<bucket>."
	ttl    time.Duration
}

// Entry is what a key holds.
type Entry struct {
	Value []byte
	// Created is when the value was stored.
	Created time.Time
	// Mine says this call stored it.
	Mine bool
}

// StateBucket opens the bucket for purpose (e.g. "DEDUPE") and destination,
// creating it, or updating its TTL to ttl (0: keys live until overwritten).
func (l *Log) StateBucket(ctx context.Context, purpose, destination string, ttl time.Duration) (*Bucket, error) {
	name := l.cfg.Stream + "_" + purpose + "_" + destination
	// A separate JetStream context: its async publishes have their own
	// window, not the intake's.
	js, err := jetstream.New(l.nc, jetstream.WithPublishAsyncTimeout(defaultPublishAckTimeout))
	if err != nil {
		return nil, fmt.Errorf("state bucket %s: %w", name, err)
	}
	cfg := jetstream.KeyValueConfig{
		Bucket:      name,
		Description: "statsig-bridge: " + strings.ToLower(purpose) + " state of destination " + destination,
		TTL:         ttl,
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    l.cfg.Replicas,
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("state bucket %s: %w", name, err)
	}
	return &Bucket{js: js, kv: kv, cfg: cfg, name: name, prefix: "$KV." + name + ".", ttl: ttl}, nil
}

// gone reports an error saying the bucket's stream does not exist (deleted
// under a running bridge): nothing answered the write.
func gone(err error) bool {
	return errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrBucketNotFound)
}

// recreate makes the bucket again after it was deleted: its state is lost,
// but deciding goes on (the first exposure after it counts as a first).
func (b *Bucket) recreate(ctx context.Context) error {
	kv, err := b.js.CreateOrUpdateKeyValue(ctx, b.cfg)
	if err != nil {
		return fmt.Errorf("recreating state bucket %s: %w", b.name, err)
	}
	b.kvMu.Lock()
	b.kv = kv
	b.kvMu.Unlock()
	return nil
}

// store returns the bucket's key-value handle.
func (b *Bucket) store() jetstream.KeyValue {
	b.kvMu.Lock()
	defer b.kvMu.Unlock()
	return b.kv
}

// statePurposes are the kinds of state buckets a destination may have.
var statePurposes = []string{"DEDUPE", "IDENT"}

// removeStateBuckets deletes a destination's state buckets, if any.
func (l *Log) removeStateBuckets(ctx context.Context, destination string) error {
	for _, purpose := range statePurposes {
		name := l.cfg.Stream + "_" + purpose + "_" + destination
		if err := l.js.DeleteKeyValue(ctx, name); err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("removing state bucket %s: %w", name, err)
		}
	}
	return nil
}

// Name returns the bucket's name.
func (b *Bucket) Name() string { return b.name }

// Claim stores values[i] under keys[i] where the key holds nothing (what
// KV Create does), and returns what every key holds afterwards. The
// creates go out pipelined, a chunk at a time, so a batch of claims costs
// about one round trip, not one each; only refused keys are read back.
// The values of refused keys are read back in one batched request. A value
// older than the TTL that the server has not expired yet counts as absent
// and is replaced.
func (b *Bucket) Claim(ctx context.Context, keys []string, values [][]byte) ([]Entry, error) {
	out, err := b.claim(ctx, keys, values)
	if err != nil && gone(err) {
		if err := b.recreate(ctx); err != nil {
			return nil, err
		}
		out, err = b.claim(ctx, keys, values)
	}
	return out, err
}

func (b *Bucket) claim(ctx context.Context, keys []string, values [][]byte) ([]Entry, error) {
	out := make([]Entry, len(keys))
	var refused []int
	for start := 0; start < len(keys); start += stateChunk {
		end := min(start+stateChunk, len(keys))
		futures := make([]jetstream.PubAckFuture, 0, end-start)
		for i := start; i < end; i++ {
			f, err := b.js.PublishMsgAsync(&nats.Msg{Subject: b.prefix + keys[i], Data: values[i]},
				jetstream.WithExpectLastSequencePerSubject(0))
			if err != nil {
				return nil, fmt.Errorf("claiming keys in %s: %w", b.name, err)
			}
			futures = append(futures, f)
		}
		now := time.Now()
		for j, f := range futures {
			i := start + j
			select {
			case <-f.Ok():
				out[i] = Entry{Value: values[i], Created: now, Mine: true}
			case err := <-f.Err():
				if !isWrongLastSeq(err) {
					return nil, fmt.Errorf("claiming keys in %s: %w", b.name, err)
				}
				refused = append(refused, i)
			case <-ctx.Done():
				return nil, fmt.Errorf("claiming keys in %s: %w", b.name, ctx.Err())
			}
		}
	}
	// The refused keys' values, in one batched read; a key expired or
	// deleted meanwhile, or not read, is settled on its own.
	slow := refused
	if len(refused) > 0 {
		rkeys := make([]string, len(refused))
		for j, i := range refused {
			rkeys[j] = keys[i]
		}
		got, err := b.getMany(ctx, rkeys)
		switch {
		case errors.Is(err, errMultiGetUnsupported):
		case err != nil:
			return nil, err
		default:
			slow = nil
			for _, i := range refused {
				f, ok := got[keys[i]]
				if !ok || (b.ttl > 0 && time.Since(f.created) >= b.ttl) {
					slow = append(slow, i)
					continue
				}
				out[i] = Entry{Value: f.value, Created: f.created}
			}
		}
	}
	err := b.each(ctx, slow, func(i int) error {
		e, err := b.claimOne(ctx, keys[i], values[i])
		out[i] = e
		return err
	})
	return out, err
}

// claimOne settles a refused create: the key's current value, or ours if
// it expired (or was deleted) meanwhile.
func (b *Bucket) claimOne(ctx context.Context, key string, value []byte) (Entry, error) {
	kv := b.store()
	for range 5 {
		e, err := kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
			if _, err := kv.Create(ctx, key, value); err == nil {
				return Entry{Value: value, Created: time.Now(), Mine: true}, nil
			} else if !errors.Is(err, jetstream.ErrKeyExists) {
				return Entry{}, fmt.Errorf("claiming %s in %s: %w", key, b.name, err)
			}
			continue // someone else created it: read theirs
		case err != nil:
			return Entry{}, fmt.Errorf("reading %s in %s: %w", key, b.name, err)
		}
		if b.ttl > 0 && time.Since(e.Created()) >= b.ttl {
			// Expired, not yet removed: replace it, unless another claim
			// replaces it first.
			if _, err := kv.Update(ctx, key, value, e.Revision()); err == nil {
				return Entry{Value: value, Created: time.Now(), Mine: true}, nil
			}
			continue
		}
		return Entry{Value: e.Value(), Created: e.Created()}, nil
	}
	return Entry{}, fmt.Errorf("claiming %s in %s: the key keeps changing", key, b.name)
}

// Get returns what keys hold: nil for an absent key (or one older than the
// TTL), read with one batched request per 1,024 keys.
func (b *Bucket) Get(ctx context.Context, keys []string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	got, err := b.getMany(ctx, keys)
	switch {
	case errors.Is(err, errMultiGetUnsupported):
		return b.getEach(ctx, keys)
	case err != nil:
		return nil, err
	}
	for i, k := range keys {
		if f, ok := got[k]; ok && (b.ttl <= 0 || time.Since(f.created) < b.ttl) {
			out[i] = f.value
		}
	}
	return out, nil
}

// getEach is Get with a request per key, for servers without batched reads.
func (b *Bucket) getEach(ctx context.Context, keys []string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	idx := make([]int, len(keys))
	for i := range idx {
		idx[i] = i
	}
	kv := b.store()
	err := b.each(ctx, idx, func(i int) error {
		e, err := kv.Get(ctx, keys[i])
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
			return nil
		case err != nil:
			return fmt.Errorf("reading %s in %s: %w", keys[i], b.name, err)
		}
		if b.ttl <= 0 || time.Since(e.Created()) < b.ttl {
			out[i] = e.Value()
		}
		return nil
	})
	return out, err
}

// Put stores values[i] under keys[i], pipelined, and returns once the
// log has them all.
func (b *Bucket) Put(ctx context.Context, keys []string, values [][]byte) error {
	err := b.put(ctx, keys, values)
	if err != nil && gone(err) {
		if err := b.recreate(ctx); err != nil {
			return err
		}
		err = b.put(ctx, keys, values)
	}
	return err
}

func (b *Bucket) put(ctx context.Context, keys []string, values [][]byte) error {
	for start := 0; start < len(keys); start += stateChunk {
		end := min(start+stateChunk, len(keys))
		futures := make([]jetstream.PubAckFuture, 0, end-start)
		for i := start; i < end; i++ {
			f, err := b.js.PublishMsgAsync(&nats.Msg{Subject: b.prefix + keys[i], Data: values[i]})
			if err != nil {
				return fmt.Errorf("storing keys in %s: %w", b.name, err)
			}
			futures = append(futures, f)
		}
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return fmt.Errorf("storing keys in %s: %w", b.name, err)
			case <-ctx.Done():
				return fmt.Errorf("storing keys in %s: %w", b.name, ctx.Err())
			}
		}
	}
	return nil
}

// each runs f for every index, at most stateGetters at a time, and returns
// the first error.
func (b *Bucket) each(ctx context.Context, idx []int, f func(i int) error) error {
	if len(idx) == 0 {
		return nil
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	sem := make(chan struct{}, stateGetters)
	for _, i := range idx {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := f(i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// isWrongLastSeq reports a refused create: the key exists (10071, or
// 10164 on replicated streams).
func isWrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
