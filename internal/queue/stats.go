package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The statistics stream keeps delivery statistics (what the debugger's
// Delivery view shows) in the log's engine, so that they outlive a restart
// and every process of a scale-out sees all of them: each process publishes
// one record per destination and minute, and reads everyone's.
const (
	statsMaxAge   = 25 * time.Hour // the view's longest window is a day
	statsMaxBytes = 64 << 20       // ≈ 100k records: a day of 70 destination-processes
)

// statsBytes is the statistics stream's byte limit: statsMaxBytes, or a
// sixteenth of a small log's.
func (cfg Config) statsBytes() int64 { return max(min(statsMaxBytes, cfg.MaxBytes/16), 64<<10) }

// statsStream and statsSubject derive from the events stream's names, so
// bridges sharing a server with other streams (tests, projects) keep theirs.
func (l *Log) statsStream() string { return l.cfg.Stream + "_STATS" }

func (l *Log) statsSubject(dest string) string { return l.cfg.Subject + "_stats." + dest }

// ensureStatsStream creates or updates the statistics stream.
func (l *Log) ensureStatsStream(ctx context.Context) error {
	_, err := l.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        l.statsStream(),
		Description: "statsig-bridge: delivery statistics per destination and minute, from every process",
		Subjects:    []string{l.cfg.Subject + "_stats.*"},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld, // statistics, not events: the oldest go first
		MaxAge:      statsMaxAge,
		MaxBytes:    l.cfg.statsBytes(),
		Storage:     jetstream.FileStorage,
		Replicas:    l.cfg.Replicas,
		Duplicates:  duplicateWindow, // a retried record (same msgID) is stored once
	})
	if err != nil {
		return fmt.Errorf("creating stream %s: %w", l.statsStream(), err)
	}
	return nil
}

// PublishStats stores one statistics record of destination dest. msgID
// names the record: a retry of the same record within the stream's
// duplicate window is stored once. While the connection is down it fails at
// once instead of leaving a copy in the client's reconnect buffer.
func (l *Log) PublishStats(ctx context.Context, dest, msgID string, data []byte) error {
	if status := l.nc.Status(); status != nats.CONNECTED {
		return fmt.Errorf("storing delivery statistics of %s: the NATS connection is %s: %w", dest, strings.ToLower(status.String()), ErrUnavailable)
	}
	if _, err := l.js.Publish(ctx, l.statsSubject(dest), data, jetstream.WithMsgID(msgID)); err != nil {
		return fmt.Errorf("storing delivery statistics of %s: %w", dest, err)
	}
	return nil
}

// ReadStats calls f with every statistics record stored since since, of
// every destination and process, in order, and returns the sequence of the
// last record read, also with an error (what was read is read: follow
// from there).
func (l *Log) ReadStats(ctx context.Context, since time.Time, f func(data []byte)) (uint64, error) {
	s, err := l.js.Stream(ctx, l.statsStream())
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", l.statsStream(), err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", l.statsStream(), err)
	}
	last := info.State.LastSeq
	if info.State.Msgs == 0 {
		return last, nil
	}
	cons, err := l.js.OrderedConsumer(ctx, l.statsStream(), jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &since,
	})
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", l.statsStream(), err)
	}
	var read uint64 // the last sequence handed to f; 0: none yet
	for {
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return read, fmt.Errorf("reading %s: %w", l.statsStream(), err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil {
				continue
			}
			if meta.Sequence.Stream > last {
				return last, nil // written after the read began: FollowStats has it
			}
			f(m.Data())
			read = meta.Sequence.Stream
			if read == last || meta.NumPending == 0 {
				return last, nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			return read, fmt.Errorf("reading %s: %w", l.statsStream(), err)
		}
		if n == 0 {
			return last, nil // the rest aged out meanwhile
		}
	}
}

// FollowStats calls f with every statistics record stored after sequence
// after, with its sequence, as they arrive, until ctx ends or the reading
// fails (then the caller follows again from the last sequence it saw).
func (l *Log) FollowStats(ctx context.Context, after uint64, f func(seq uint64, data []byte)) error {
	cons, err := l.js.OrderedConsumer(ctx, l.statsStream(), jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: after + 1,
	})
	if err != nil {
		return fmt.Errorf("following %s: %w", l.statsStream(), err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if meta, err := m.Metadata(); err == nil {
			f(meta.Sequence.Stream, m.Data())
		}
	})
	if err != nil {
		return fmt.Errorf("following %s: %w", l.statsStream(), err)
	}
	<-ctx.Done()
	cc.Stop()
	return nil
}
