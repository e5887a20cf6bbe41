package queue

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// DeadLetter stores a document (built by the caller: event, destination,
// reason) for an event that destination rejected for good, and waits for
// the store ack. Only after it returns may the caller ack the batch, so an
// event is either delivered, dead-lettered, or still in the log.
func (l *Log) DeadLetter(ctx context.Context, destination string, data []byte) error {
	subject, err := l.deadLetterSubject(destination)
	if err != nil {
		return err
	}
	_, err = l.js.Publish(ctx, subject, data, jetstream.WithExpectStream(l.cfg.DeadLetterStream))
	if err != nil {
		return fmt.Errorf("dead-lettering event for %s: %w", destination, classify(err))
	}
	return nil
}

// DeadLetters returns up to max stored dead letters of destination, oldest
// first. It reads by subject with direct gets, so it creates no consumer and
// leaves nothing behind; it serves tests and a later re-drive feature.
func (l *Log) DeadLetters(ctx context.Context, destination string, max int) ([][]byte, error) {
	subject, err := l.deadLetterSubject(destination)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for seq := uint64(1); len(out) < max; {
		msg, err := l.dlStream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return out, fmt.Errorf("reading dead letters for %s: %w", destination, err)
		}
		out = append(out, msg.Data)
		seq = msg.Sequence + 1
	}
	return out, nil
}

// deadLetterSubject is DeadLetterSubject.<destination>; the name must be a
// single subject token or dead letters could land under another destination.
func (l *Log) deadLetterSubject(destination string) (string, error) {
	if !namePattern.MatchString(destination) {
		return "", fmt.Errorf("dead-lettering: destination name %q must use only letters, digits, '-' and '_'", destination)
	}
	return l.cfg.DeadLetterSubject + "." + destination, nil
}
