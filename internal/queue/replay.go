package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// replayInactive is how long the server keeps a replay consumer that
// nobody pulls from: a killed replay leaves nothing behind for longer, and
// a replay whose workers are all retrying through an outage (not pulling)
// keeps its reader for this long.
const replayInactive = time.Hour

// ErrReplayGone means the replay's reader was removed by the server, after
// replayInactive without a pull (a long outage of the destination).
var ErrReplayGone = errors.New("the replay's reader is gone (unused for an hour); run the replay again")

// SeqAt returns the sequence of the first batch stored at or after t, or
// the stream's last sequence + 1 when none was. It asks the server with a
// short-lived consumer starting at t, which positions itself by time
// without reading any message.
func (l *Log) SeqAt(ctx context.Context, t time.Time) (uint64, error) {
	cons, err := l.stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
		Description:       "statsig-bridge: position lookup",
		DeliverPolicy:     jetstream.DeliverByStartTimePolicy,
		OptStartTime:      &t,
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: time.Minute,
	})
	if err != nil {
		return 0, fmt.Errorf("finding the batch stored at %s: %w", t.Format(time.RFC3339), err)
	}
	info := cons.CachedInfo()
	_ = l.stream.DeleteConsumer(context.WithoutCancel(ctx), info.Name)
	// A new consumer reports the sequence before its first as delivered.
	return info.Delivered.Stream + 1, nil
}

// ReplayRange is the part of the log a replay reads: sequences First to
// Last, both included; empty when Last < First.
type ReplayRange struct {
	First, Last uint64
}

// Batches is the number of sequences in the range.
func (r ReplayRange) Batches() uint64 {
	if r.Last < r.First {
		return 0
	}
	return r.Last - r.First + 1
}

// ReplayConsumer returns an ephemeral consumer reading the batches stored
// from since (the oldest kept when zero) to until (the newest stored now
// when zero), for re-sending them to destination. It leaves the
// destination's durable consumer where it is, and Trim ignores it. Fetch
// returns nothing past the range; AckFloor tells when all of it is acked.
// Call Close when done.
func (l *Log) ReplayConsumer(ctx context.Context, destination string, since, until time.Time, opts ConsumerOptions) (*Consumer, ReplayRange, error) {
	if !namePattern.MatchString(destination) {
		return nil, ReplayRange{}, fmt.Errorf("replaying: destination name %q must use only letters, digits, '-' and '_'", destination)
	}
	if opts.AckWait == 0 {
		opts.AckWait = DefaultAckWait
	}
	if opts.MaxAckPending == 0 {
		opts.MaxAckPending = DefaultMaxAckPending
	}
	info, err := l.stream.Info(ctx)
	if err != nil {
		return nil, ReplayRange{}, fmt.Errorf("replaying: reading stream %s: %w", l.cfg.Stream, err)
	}
	last := info.State.LastSeq
	if !until.IsZero() {
		seq, err := l.SeqAt(ctx, until)
		if err != nil {
			return nil, ReplayRange{}, err
		}
		last = min(last, seq-1)
	}
	cc := jetstream.ConsumerConfig{
		Description:       "statsig-bridge replay to " + destination,
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		AckPolicy:         jetstream.AckExplicitPolicy,
		AckWait:           opts.AckWait,
		MaxAckPending:     opts.MaxAckPending,
		MaxDeliver:        -1,
		InactiveThreshold: replayInactive,
	}
	if !since.IsZero() {
		cc.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		cc.OptStartTime = &since
	}
	cons, err := l.stream.CreateConsumer(ctx, cc)
	if err != nil {
		return nil, ReplayRange{}, fmt.Errorf("replaying: creating a reader: %w", err)
	}
	ci := cons.CachedInfo()
	rng := ReplayRange{First: max(ci.Delivered.Stream+1, info.State.FirstSeq), Last: last}
	c := &Consumer{name: destination, durable: "replay " + ci.Name, maxAckPending: opts.MaxAckPending, cons: cons, stopAfter: last, log: l}
	return c, rng, nil
}

// AckFloor is the stream sequence up to which every batch is acked.
func (c *Consumer) AckFloor(ctx context.Context) (uint64, error) {
	info, err := c.cons.Info(ctx)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return 0, fmt.Errorf("reading consumer %s info: %w: %w", c.durable, ErrReplayGone, err)
	}
	if err != nil {
		return 0, fmt.Errorf("reading consumer %s info: %w", c.durable, err)
	}
	return info.AckFloor.Stream, nil
}

// Close deletes a replay consumer; a durable consumer is left alone.
func (c *Consumer) Close(ctx context.Context) error {
	if c.log == nil {
		return nil
	}
	if err := c.log.stream.DeleteConsumer(ctx, c.cons.CachedInfo().Name); err != nil {
		return fmt.Errorf("deleting %s: %w", c.durable, err)
	}
	return nil
}
