package queue

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrFull means the stream is at its byte limit (or the server is out of
// storage). The log discards new batches rather than old unfinished ones, so
// intake must answer 503 with Retry-After and let the SDK retry later.
var ErrFull = errors.New("durable log is full")

// ErrTooLarge means a batch is bigger than [Config.MaxMsgSize] (or the NATS
// server's max_payload); retrying it cannot succeed, so intake answers 413.
var ErrTooLarge = errors.New("event batch is larger than the durable log accepts")

// ErrUnavailable means the log cannot take writes right now: the
// connection to NATS is down (it reconnects by itself) or, embedded, the
// store failed to write to its disk (see [Log.Publish]). Intake answers 503
// with Retry-After; nothing was stored.
var ErrUnavailable = errors.New("durable log is unavailable")

// ErrDiskFull means the embedded store's disk has no room left (or less
// than the store guard keeps free). Intake answers 503 with Retry-After;
// the log accepts batches again by itself once there is space.
var ErrDiskFull = errors.New("the disk of the bridge's data dir is full")

// ErrLocked means another process (a running bridge) holds the embedded
// store: the embedded log is single-process. Stop that process, or use an
// external JetStream, which any number of processes may share.
var ErrLocked = errors.New("the embedded log's data dir is in use by another statsig-bridge process (the embedded JetStream is single-process: stop it first, or use an external JetStream with BRIDGE_NATS_URL)")

// JetStream error codes that mean "no room left" (nats-server
// jetstream_errors_generated.go). They are not exported by nats.go.
const (
	codeStreamStoreFailed         jetstream.ErrorCode = 10077 // description carries the store error
	codeInsufficientResources     jetstream.ErrorCode = 10023
	codeMemoryResourcesExceeded   jetstream.ErrorCode = 10028
	codeStorageResourcesExceeded  jetstream.ErrorCode = 10047
	codeAccountResourcesExceeded  jetstream.ErrorCode = 10002
	codeStreamMessageExceedsLimit                     = jetstream.JSErrCodeStreamMessageExceedsMaximum
)

// classify maps JetStream's "no room" and "too big" answers onto the
// package's sentinels so callers can decide with errors.Is; the original
// error stays in the chain for the log line.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, nats.ErrMaxPayload) {
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return err
	}
	switch apiErr.ErrorCode {
	case codeInsufficientResources, codeMemoryResourcesExceeded,
		codeStorageResourcesExceeded, codeAccountResourcesExceeded:
		return fmt.Errorf("%w: %w", ErrFull, err)
	case codeStreamMessageExceedsLimit:
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	case codeStreamStoreFailed:
		d := strings.ToLower(apiErr.Description)
		switch {
		case strings.Contains(d, "maximum bytes exceeded"),
			strings.Contains(d, "maximum messages exceeded"):
			return fmt.Errorf("%w: %w", ErrFull, err)
		case strings.Contains(d, "message too large"):
			return fmt.Errorf("%w: %w", ErrTooLarge, err)
		}
	}
	return err
}
