package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Message is one stored batch as delivered to a destination's consumer. The
// destination must settle it exactly once: Ack after delivery (or after
// dead-lettering), Nak to retry, or let AckWait expire.
type Message struct {
	msg  jetstream.Msg
	meta *jetstream.MsgMetadata // parsed once in Fetch; the reply subject carries it
	data []byte                 // the decoded batch, once Data has run
}

// Data is the batch exactly as published (stored compressed, see
// compressBatch). An error means the stored bytes cannot be read back
// (corrupt, or an encoding this version does not know); Stored has them.
// Not safe for concurrent use.
func (m *Message) Data() ([]byte, error) {
	if m.data == nil {
		data, err := decodeBatch(m.msg.Headers(), m.msg.Data())
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", m.Seq(), err)
		}
		m.data = data
	}
	return m.data, nil
}

// Stored is the message's bytes as the log holds them.
func (m *Message) Stored() []byte { return m.msg.Data() }

// Seq is the batch's stream sequence, stable across redeliveries.
func (m *Message) Seq() uint64 { return m.meta.Sequence.Stream }

// StoredAt is when the log stored the batch.
func (m *Message) StoredAt() time.Time { return m.meta.Timestamp }

// Pending is how many batches the consumer had left to deliver after this
// one when the log handed it out.
func (m *Message) Pending() uint64 { return m.meta.NumPending }

// Delivered is the delivery attempt count, 1 on the first delivery.
func (m *Message) Delivered() uint64 { return m.meta.NumDelivered }

// Ack marks the batch done for this destination and waits until JetStream
// confirms, so that once Ack returns a crash cannot redeliver it and Trim
// can count on it.
func (m *Message) Ack(ctx context.Context) error {
	for {
		err := m.msg.DoubleAck(ctx)
		if err == nil {
			return nil
		}
		// No responders: JetStream is away for a moment, as while the
		// embedded store guard restarts it after a write error; it loads
		// the consumer and its pending batches again. Retrying until ctx
		// ends settles the batch instead of having it delivered twice.
		if !errors.Is(err, nats.ErrNoResponders) {
			return fmt.Errorf("acking message %d: %w", m.Seq(), err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("acking message %d: %w", m.Seq(), err)
		case <-time.After(ackRetryEvery):
		}
	}
}

// ackRetryEvery is how often Ack tries again while JetStream is away.
const ackRetryEvery = 50 * time.Millisecond

// Nak asks for redelivery after delay (immediately when delay <= 0).
func (m *Message) Nak(delay time.Duration) error {
	var err error
	if delay > 0 {
		err = m.msg.NakWithDelay(delay)
	} else {
		err = m.msg.Nak()
	}
	if err != nil {
		return fmt.Errorf("naking message %d: %w", m.Seq(), err)
	}
	return nil
}

// InProgress restarts the AckWait timer while a destination is still
// retrying, so the batch is not redelivered to a second worker meanwhile.
func (m *Message) InProgress() error {
	if err := m.msg.InProgress(); err != nil {
		return fmt.Errorf("extending ack wait of message %d: %w", m.Seq(), err)
	}
	return nil
}
