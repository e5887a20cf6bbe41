package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ConsumerOptions tune a destination's consumer; zero values take defaults.
type ConsumerOptions struct {
	// AckWait is how long a fetched batch may stay unacked before JetStream
	// redelivers it. Call Message.InProgress to extend it while retrying.
	AckWait time.Duration
	// MaxAckPending caps batches fetched but not yet acked, which bounds a
	// destination's memory and in-flight work.
	MaxAckPending int
}

// Consumer is one destination's durable position in the log.
type Consumer struct {
	name          string
	durable       string
	maxAckPending int
	cons          jetstream.Consumer
	// stopAfter, on a replay consumer (log set), is the last sequence
	// Fetch returns; later batches are left to the server to forget.
	stopAfter uint64
	log       *Log
}

// consumerPrefix namespaces destination consumers so that operators' tooling
// can tell them apart from anything else on the stream.
const consumerPrefix = "dest-"

// Consumer creates or updates the durable pull consumer "dest-<name>" and
// returns a handle to it. It is idempotent, so several bridge processes may
// race to create the same consumer. A new consumer starts from the oldest
// kept batch, so a destination added later still receives every event the
// log holds.
func (l *Log) Consumer(ctx context.Context, name string, opts ConsumerOptions) (*Consumer, error) {
	if !namePattern.MatchString(name) {
		return nil, fmt.Errorf("creating consumer: destination name %q must use only letters, digits, '-' and '_'", name)
	}
	if opts.AckWait == 0 {
		opts.AckWait = DefaultAckWait
	}
	if opts.MaxAckPending == 0 {
		opts.MaxAckPending = DefaultMaxAckPending
	}
	durable := consumerPrefix + name
	cons, err := l.js.CreateOrUpdateConsumer(ctx, l.cfg.Stream, jetstream.ConsumerConfig{
		Durable:       durable,
		Description:   "statsig-bridge destination " + name,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       opts.AckWait,
		MaxAckPending: opts.MaxAckPending,
		MaxDeliver:    -1, // never give up: failures end in the dead-letter stream, decided by the caller
	})
	if err != nil {
		return nil, fmt.Errorf("creating consumer %s: %w", durable, err)
	}
	return &Consumer{name: name, durable: durable, maxAckPending: opts.MaxAckPending, cons: cons}, nil
}

// Name is the destination name the consumer was created for.
func (c *Consumer) Name() string { return c.name }

// Fetch returns up to max batches, waiting up to wait for the first one; it
// returns (nil, nil) when none arrived in time and ctx's error promptly when
// ctx ends (batches already received are then nak'ed for redelivery).
//
// JetStream's own Fetch waits until the whole batch is full, which would add
// wait to every delivery under light traffic. Instead Fetch takes what is
// there now; only if nothing is there does it wait for one batch and then
// top up with whatever else has arrived.
//
// While MaxAckPending batches are unacked JetStream holds back delivery; a
// Fetch then returns only after about a second (JetStream's no-wait request
// does not end early in that state), which is the back-pressure we want.
// A cancelled Fetch may leave its pull request open on the server for up to
// wait; a batch delivered into it is redelivered after AckWait.
func (c *Consumer) Fetch(ctx context.Context, max int, wait time.Duration) ([]*Message, error) {
	if max < 1 {
		return nil, fmt.Errorf("fetching from %s: max must be at least 1, got %d", c.durable, max)
	}
	// A request for more than MaxAckPending could never be filled and would
	// hold Fetch until the no-wait request times out.
	if c.maxAckPending > 0 {
		max = min(max, c.maxAckPending)
	}
	msgs, err := c.collect(ctx, func() (jetstream.MessageBatch, error) { return c.cons.FetchNoWait(max) })
	if err != nil || len(msgs) > 0 || wait < time.Millisecond {
		return msgs, err
	}
	// The server ends this request (FetchMaxWait), not a client deadline: a
	// client that gives up first can miss a batch the server is delivering
	// at that moment, which then waits out AckWait unseen.
	msgs, err = c.collect(ctx, func() (jetstream.MessageBatch, error) {
		return c.cons.Fetch(1, jetstream.FetchMaxWait(wait))
	})
	if err != nil || len(msgs) == 0 || max == 1 {
		return msgs, err
	}
	more, err := c.collect(ctx, func() (jetstream.MessageBatch, error) { return c.cons.FetchNoWait(max - 1) })
	if err != nil {
		if ctx.Err() != nil {
			nakAll(msgs)
			return nil, err
		}
		// msgs are delivered to us already; hand them over and let the
		// next Fetch surface a lasting error.
		return msgs, nil
	}
	return append(msgs, more...), nil
}

// collect sends one pull request and reads its messages until it completes
// or ctx ends.
func (c *Consumer) collect(ctx context.Context, pull func() (jetstream.MessageBatch, error)) ([]*Message, error) {
	batch, err := pull()
	if err != nil {
		return nil, fmt.Errorf("fetching from %s: %w", c.durable, err)
	}
	var out []*Message
	for {
		select {
		case m, ok := <-batch.Messages():
			if !ok {
				return c.finish(out, batch.Error())
			}
			meta, err := m.Metadata()
			if err != nil {
				_ = m.Nak()
				nakAll(out)
				return nil, fmt.Errorf("reading metadata of message from %s: %w", c.durable, err)
			}
			if c.log != nil && meta.Sequence.Stream > c.stopAfter {
				_ = m.Term() // past the replay's end: never hand it out again
				continue
			}
			out = append(out, &Message{msg: m, meta: meta})
		case <-ctx.Done():
			nakAll(out)
			return nil, fmt.Errorf("fetching from %s: %w", c.durable, ctx.Err())
		}
	}
}

// finish decides what a completed pull request's error means: messages in
// hand always win, and "nothing there" answers are not failures.
func (c *Consumer) finish(out []*Message, err error) ([]*Message, error) {
	if err == nil || len(out) > 0 ||
		errors.Is(err, jetstream.ErrNoMessages) || errors.Is(err, nats.ErrTimeout) {
		return out, nil
	}
	return nil, fmt.Errorf("fetching from %s: %w", c.durable, err)
}

// Lag reports the consumer's backlog for the consumer-lag metric: batches
// not yet delivered to it and batches delivered but not yet acked.
func (c *Consumer) Lag(ctx context.Context) (pending uint64, ackPending int, err error) {
	info, err := c.cons.Info(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("reading consumer %s info: %w", c.durable, err)
	}
	return info.NumPending, info.NumAckPending, nil
}

// nakAll hands messages back for immediate redelivery when Fetch cannot
// return them; an ignored Nak only delays redelivery until AckWait.
func nakAll(msgs []*Message) {
	for _, m := range msgs {
		_ = m.msg.Nak()
	}
}
