// Package logconfig holds the durable log's defaults: the names of its
// streams and subjects, its limits and the timings of its consumers and
// trimmer. It imports nothing of ours, so the configuration shows the same
// effective values that the log (package queue) applies, without importing
// the log and the nats-server behind it.
package logconfig

import "time"

// Defaults of the durable log.
const (
	DefaultStream            = "STATSIG_EVENTS"
	DefaultSubject           = "statsig.events"
	DefaultDeadLetterStream  = "STATSIG_DEADLETTER"
	DefaultDeadLetterSubject = "statsig.deadletter"
	// DefaultMaxBytes is 8 GiB of unfinished batches before intake
	// answers 503.
	DefaultMaxBytes = 8 << 30
	// DefaultMaxMsgSize is 16 MiB: the largest SDK request body accepted.
	DefaultMaxMsgSize = 16 << 20
	DefaultReplicas   = 1
	// DefaultDeadLetterMaxBytes is generous, because a full dead-letter
	// stream stops dead-lettering (failing events then stay in the log).
	DefaultDeadLetterMaxBytes = 1 << 30
	DefaultDeadLetterMaxAge   = 30 * 24 * time.Hour
	// DefaultAckWait is how long a destination may hold a batch before the
	// log hands it out again; delivery signals progress at a third of it.
	DefaultAckWait = 30 * time.Second
	// DefaultMaxAckPending caps the batches fetched and not yet acked by a
	// destination across all processes.
	DefaultMaxAckPending = 1024
	// DefaultTrimInterval is how often the log frees what every
	// destination has acked: often enough that the stream does not fill.
	DefaultTrimInterval = 30 * time.Second
)
