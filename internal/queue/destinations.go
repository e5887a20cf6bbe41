package queue

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Destinations lists the destinations that have a durable consumer on the
// stream, whether or not any running bridge still delivers to them.
func (l *Log) Destinations(ctx context.Context) ([]string, error) {
	names := l.stream.ConsumerNames(ctx)
	var out []string
	for name := range names.Name() {
		if d, ok := strings.CutPrefix(name, consumerPrefix); ok {
			out = append(out, d)
		}
	}
	if err := names.Err(); err != nil {
		return nil, fmt.Errorf("listing consumers of %s: %w", l.cfg.Stream, err)
	}
	slices.Sort(out)
	return out, nil
}

// RemoveDestination deletes a destination's durable consumer and its state
// buckets (StateBucket). Its position is lost; batches only it had not
// finished become trimmable.
func (l *Log) RemoveDestination(ctx context.Context, name string) error {
	if err := l.stream.DeleteConsumer(ctx, consumerPrefix+name); err != nil {
		return fmt.Errorf("removing consumer %s%s: %w", consumerPrefix, name, err)
	}
	return l.removeStateBuckets(ctx, name)
}
