package debugger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// StatsStore is where delivery statistics outlive the process: the log's
// statistics stream (queue.Log). Each process stores one record per
// destination and minute and reads everyone's, so the Delivery view shows
// the whole day across restarts and across the processes of a scale-out.
type StatsStore interface {
	PublishStats(ctx context.Context, dest, msgID string, data []byte) error
	ReadStats(ctx context.Context, since time.Time, f func(data []byte)) (uint64, error)
	FollowStats(ctx context.Context, after uint64, f func(seq uint64, data []byte)) error
}

// minuteRecord is one process's statistics of one destination for one
// minute: what the statistics stream stores.
type minuteRecord struct {
	id       string         // the record's ID in the log (a retry is stored once)
	Proc     string         `json:"proc"`
	Dest     string         `json:"dest"`
	Minute   int64          `json:"minute"` // Unix minutes
	First    uint32         `json:"first,omitempty"`
	Retry    uint32         `json:"retry,omitempty"`
	Filtered uint32         `json:"filtered,omitempty"`
	Dead     uint32         `json:"dead,omitempty"`
	Fails    uint32         `json:"fails,omitempty"`
	Lat      map[int]uint32 `json:"lat,omitempty"` // latency bin → deliveries
	Reasons  []reasonCount  `json:"reasons,omitempty"`
}

type reasonCount struct {
	Kind   string `json:"kind"`
	Reason string `json:"reason"`
	N      uint32 `json:"n"`
}

// statsFinalWait bounds storing the last records at shutdown.
const statsFinalWait = 2 * time.Second

// KeepStats loads the last day's statistics from store (earlier runs, other
// processes), then until ctx ends stores this process's every interval and
// merges what other processes store; at the end it stores what is left.
// The caller owns the goroutine running it and stops it with ctx, after the
// destinations stopped, so that their last outcomes are stored too. A
// minute of statistics can be lost to a kill -9; events cannot.
func (d *Debugger) KeepStats(ctx context.Context, store StatsStore, every time.Duration) {
	if every <= 0 {
		every = time.Minute
	}
	last, err := store.ReadStats(ctx, time.Now().Add(-24*time.Hour), func(data []byte) { d.mergeRecord(data, "") })
	if err != nil {
		d.opts.Logger.Warn("reading the delivery statistics of earlier runs and other processes; what could not be read is missing from the Delivery view", "err", err)
	}
	followCtx, stopFollow := context.WithCancel(ctx)
	followed := make(chan struct{})
	go func() {
		defer close(followed)
		d.followStats(followCtx, store, last, every)
	}()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			stopFollow()
			<-followed
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), statsFinalWait)
			d.storeStats(fctx, store)
			cancel()
			return
		case <-tick.C:
			d.storeStats(ctx, store)
		}
	}
}

// followStats merges the records other processes store, following again
// from the last one seen, after a pause, when reading fails.
func (d *Debugger) followStats(ctx context.Context, store StatsStore, after uint64, pause time.Duration) {
	for {
		err := store.FollowStats(ctx, after, func(seq uint64, data []byte) {
			after = seq
			d.mergeRecord(data, d.proc)
		})
		if ctx.Err() != nil {
			return
		}
		d.opts.Logger.Warn("following other processes' delivery statistics; trying again", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
	}
}

// storeStats stores what this process counted since the last time, one
// record per destination and minute: records add up, so a minute may come
// in several. Each record has an ID, and one that could not be stored is
// tried again with it (the log stores a retry once). It stops at the first
// failure: the log is away, the rest waits for the next tick.
func (d *Debugger) storeStats(ctx context.Context, store StatsStore) {
	for i, name := range d.dests {
		for _, rec := range d.stats[i].takePending() {
			d.statsSeq++
			rec.Proc, rec.Dest = d.proc, name
			rec.id = fmt.Sprintf("%s.%s.%d.%d", d.proc, name, rec.Minute, d.statsSeq)
			d.unstored = append(d.unstored, rec)
		}
	}
	// A day of records at most: the view shows no more.
	if over := len(d.unstored) - maxPending*len(d.dests); over > 0 {
		d.unstored = d.unstored[over:]
	}
	for len(d.unstored) > 0 {
		rec := d.unstored[0]
		data, err := json.Marshal(rec)
		if err == nil {
			err = store.PublishStats(ctx, rec.Dest, rec.id, data)
		}
		if err != nil {
			d.opts.Logger.Warn("storing delivery statistics; kept for the next try", "pending", len(d.unstored), "err", err)
			return
		}
		d.unstored = d.unstored[1:]
	}
}

// mergeRecord adds a stored record to the view, unless it is this
// process's own (skip).
func (d *Debugger) mergeRecord(data []byte, skip string) {
	var rec minuteRecord
	if json.Unmarshal(data, &rec) != nil || (skip != "" && rec.Proc == skip) {
		return
	}
	if i, ok := d.destIdx[rec.Dest]; ok {
		d.stats[i].merge(&rec)
	}
}

// newProcessID names this process's records.
func newProcessID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
