package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/statsig-bridge/statsig-bridge/internal/logconfig"
)

// DefaultTrimInterval is RunTrimmer's period when none is given: frequent
// enough that acked batches free space well before the stream fills.
const DefaultTrimInterval = logconfig.DefaultTrimInterval

// defaultRequestTimeout bounds a JetStream API request whose ctx has no
// deadline, as the jetstream package does for its own requests.
const defaultRequestTimeout = 5 * time.Second

// Trim purges the batches that every durable consumer of the events stream
// has acked (everything up to the lowest ack floor) and, with Config.Keep,
// were stored longer than Keep ago; it reports how many it purged. With no consumers it purges nothing: batches are kept so that a
// destination added later starts from them.
//
// A consumer created while Trim runs starts at whatever the stream still
// holds; it may miss batches purged in that instant, which is the same as
// being added a moment later.
func (l *Log) Trim(ctx context.Context) (uint64, error) {
	// A purge on a server older than MinServerVersion loses unacked
	// batches: keep everything until the server is upgraded.
	if l.versions != nil {
		if err := l.versions.verdict(); err != nil {
			return 0, fmt.Errorf("trimming %s: %w", l.cfg.Stream, err)
		}
	}
	info, err := l.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("trimming %s: reading stream info: %w", l.cfg.Stream, err)
	}
	if info.State.Msgs == 0 {
		return 0, nil
	}
	floor, ok, err := l.ackFloor(ctx)
	if err != nil || !ok || floor < info.State.FirstSeq {
		return 0, err
	}
	below := floor + 1
	if l.cfg.Keep > 0 {
		// Acked batches stored within Keep stay for replay.
		kept, err := l.SeqAt(ctx, time.Now().Add(-l.cfg.Keep))
		if err != nil {
			return 0, fmt.Errorf("trimming %s: %w", l.cfg.Stream, err)
		}
		below = min(below, kept)
	}
	if below <= info.State.FirstSeq {
		return 0, nil
	}
	return l.purgeBelow(ctx, below)
}

// ackFloor is the lowest stream sequence below which every durable consumer
// has acked everything; ok is false when the stream has no durable consumer.
// It lists names (which include consumers whose server is offline) and then
// asks each for its info, failing rather than trimming past a consumer it
// could not see.
func (l *Log) ackFloor(ctx context.Context) (floor uint64, ok bool, err error) {
	names := l.stream.ConsumerNames(ctx)
	var all []string
	for name := range names.Name() {
		all = append(all, name)
	}
	if err := names.Err(); err != nil {
		return 0, false, fmt.Errorf("trimming %s: listing consumers: %w", l.cfg.Stream, err)
	}
	for _, name := range all {
		cons, err := l.stream.Consumer(ctx, name)
		if err != nil {
			return 0, false, fmt.Errorf("trimming %s: reading consumer %s: %w", l.cfg.Stream, name, err)
		}
		info := cons.CachedInfo()
		if info.Config.Durable == "" {
			continue // ephemeral readers (debugging, ordered consumers) do not hold back retention
		}
		if !ok || info.AckFloor.Stream < floor {
			floor = info.AckFloor.Stream
		}
		ok = true
	}
	return floor, ok, nil
}

// purgeBelow removes every message with a sequence below seq. It sends the
// purge request itself because jetstream.Stream.Purge drops the server's
// count of purged messages, which Trim reports.
func (l *Log) purgeBelow(ctx context.Context, seq uint64) (uint64, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultRequestTimeout)
		defer cancel()
	}
	req, err := json.Marshal(jetstream.StreamPurgeRequest{Sequence: seq})
	if err != nil {
		return 0, fmt.Errorf("trimming %s: encoding purge request: %w", l.cfg.Stream, err)
	}
	reply, err := l.nc.RequestWithContext(ctx, jetstream.DefaultAPIPrefix+"STREAM.PURGE."+l.cfg.Stream, req)
	if err != nil {
		return 0, fmt.Errorf("trimming %s: purging below %d: %w", l.cfg.Stream, seq, err)
	}
	var resp struct {
		Error  *jetstream.APIError `json:"error"`
		Purged uint64              `json:"purged"`
	}
	if err := json.Unmarshal(reply.Data, &resp); err != nil {
		return 0, fmt.Errorf("trimming %s: decoding purge response: %w", l.cfg.Stream, err)
	}
	if resp.Error != nil {
		return 0, fmt.Errorf("trimming %s: purging below %d: %w", l.cfg.Stream, seq, resp.Error)
	}
	return resp.Purged, nil
}

// RunTrimmer calls Trim every interval (DefaultTrimInterval when every <= 0)
// until ctx ends. Errors are logged, not returned: a failed trim only delays
// retention and the next tick retries. The caller owns the goroutine running
// it and stops it by cancelling ctx.
func (l *Log) RunTrimmer(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultTrimInterval
	}
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			purged, err := l.Trim(ctx)
			if err != nil {
				l.checkStore(err)
				if ctx.Err() == nil {
					l.logger.Warn("trimming durable log failed", "stream", l.cfg.Stream, "err", err)
				}
				continue
			}
			if purged > 0 {
				l.logger.Debug("trimmed durable log", "stream", l.cfg.Stream, "purged", purged)
			}
		}
	}
}
