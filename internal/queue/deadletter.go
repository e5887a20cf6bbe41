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
		l.checkStore(err)
		return fmt.Errorf("dead-lettering event for %s: %w", destination, classify(err))
	}
	return nil
}

// DeadLetters returns up to max stored dead letters of destination, oldest
// first. It reads by subject with direct gets, so it creates no consumer and
// leaves nothing behind.
func (l *Log) DeadLetters(ctx context.Context, destination string, max int) ([][]byte, error) {
	entries, err := l.DeadLetterEntries(ctx, destination, 1, max)
	out := make([][]byte, len(entries))
	for i, e := range entries {
		out[i] = e.Data
	}
	return out, err
}

// StoredDeadLetter is a dead letter with its sequence in the dead-letter
// stream, which DeleteDeadLetter takes.
type StoredDeadLetter struct {
	Seq  uint64
	Data []byte
}

// DeadLetterEntries returns up to max dead letters of destination from
// sequence from on, oldest first (the re-drive reads them page by page).
func (l *Log) DeadLetterEntries(ctx context.Context, destination string, from uint64, limit int) ([]StoredDeadLetter, error) {
	subject, err := l.deadLetterSubject(destination)
	if err != nil {
		return nil, err
	}
	var out []StoredDeadLetter
	for seq := max(from, 1); len(out) < limit; {
		msg, err := l.dlStream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return out, fmt.Errorf("reading dead letters for %s: %w", destination, err)
		}
		out = append(out, StoredDeadLetter{Seq: msg.Sequence, Data: msg.Data})
		seq = msg.Sequence + 1
	}
	return out, nil
}

// DeleteDeadLetter removes the dead letter at seq (after a re-drive settled
// its event). A dead letter already gone is no error.
func (l *Log) DeleteDeadLetter(ctx context.Context, seq uint64) error {
	err := l.dlStream.DeleteMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgDeleteUnsuccessful) {
		// nats.go does not wrap the reason: ask whether it is still there.
		if _, gerr := l.dlStream.GetMsg(ctx, seq); errors.Is(gerr, jetstream.ErrMsgNotFound) {
			return nil
		}
	}
	if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("deleting dead letter %d: %w", seq, err)
	}
	return nil
}

// deadLetterSubject is DeadLetterSubject.<destination>; the name must be a
// single subject token or dead letters could land under another destination.
func (l *Log) deadLetterSubject(destination string) (string, error) {
	if !namePattern.MatchString(destination) {
		return "", fmt.Errorf("dead-lettering: destination name %q must use only letters, digits, '-' and '_'", destination)
	}
	return l.cfg.DeadLetterSubject + "." + destination, nil
}
