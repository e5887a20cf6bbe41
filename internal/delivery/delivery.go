// Package delivery holds how a destination delivers, as configured:
// batching, concurrency, request rate and the retry policy, with their one
// set of defaults. It imports nothing of ours, so the configuration can
// hold these settings without the delivery code (and the log and the
// nats-server behind it), and the delivery loop reads the same defaults.
package delivery

import (
	"math/rand/v2"
	"runtime"
	"time"
)

// Defaults for [Options] and [RetryPolicy].
const (
	DefaultConcurrency       = 4
	DefaultFlushInterval     = time.Second
	DefaultRequestsPerSecond = 1000 // Segment's workspace ceiling
	// DefaultMaxBatchEvents is Segment's limit of items in one batch
	// request; a destination's writer may have a lower one of its own.
	DefaultMaxBatchEvents = 2500
	// MaxParallelism bounds the default decoding and mapping goroutines.
	MaxParallelism = 4
	// PartnerSourceRequestsPerSecond is the request rate Segment asks
	// partner sources to stay under.
	PartnerSourceRequestsPerSecond = 50

	// Retries: first gap ≥ 100 ms, doubling, capped at 10 s, as Segment's
	// libraries do; but retried for a day rather than ten attempts,
	// because the durable log, not memory, holds the backlog.
	DefaultRetryInitial    = 125 * time.Millisecond
	DefaultRetryMax        = 10 * time.Second
	DefaultRetryMaxElapsed = 24 * time.Hour
	DefaultPauseProbe      = 30 * time.Second
)

// Options tune one destination's delivery.
type Options struct {
	// Concurrency bounds the batches in flight (per process).
	Concurrency int `yaml:"concurrency" json:"concurrency"`
	// Parallelism is the number of goroutines decoding and mapping events
	// (0: GOMAXPROCS, at most MaxParallelism).
	Parallelism int `yaml:"parallelism" json:"parallelism"`
	// FlushInterval is the longest an event waits for its batch to fill.
	FlushInterval time.Duration `yaml:"flush_interval" json:"flush_interval"`
	// MaxBatchEvents caps the items of one request below the writer's
	// own limit.
	MaxBatchEvents int `yaml:"max_batch_events" json:"max_batch_events"`
	// RequestsPerSecond caps requests to the target: a ceiling in every
	// second. Segment's workspace ceiling is 1,000/s; it asks partner
	// sources for at most 50/s.
	RequestsPerSecond float64     `yaml:"requests_per_second" json:"requests_per_second"`
	Retry             RetryPolicy `yaml:"retry" json:"retry"`
}

// WithDefaults returns o with every unset field at its default.
func (o Options) WithDefaults() Options {
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Parallelism <= 0 {
		o.Parallelism = min(runtime.GOMAXPROCS(0), MaxParallelism)
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.MaxBatchEvents <= 0 {
		o.MaxBatchEvents = DefaultMaxBatchEvents
	}
	if o.RequestsPerSecond <= 0 {
		o.RequestsPerSecond = DefaultRequestsPerSecond
	}
	o.Retry = o.Retry.WithDefaults()
	return o
}

// RetryPolicy shapes retries of transient failures.
type RetryPolicy struct {
	// Initial is the first backoff; each retry doubles it up to Max.
	Initial time.Duration `yaml:"initial" json:"initial"`
	Max     time.Duration `yaml:"max" json:"max"`
	// MaxElapsed is how long a batch is retried before its events are
	// dead-lettered. The log holds the backlog meanwhile.
	MaxElapsed time.Duration `yaml:"max_elapsed" json:"max_elapsed"`
	// PauseProbe is how often a paused destination (credentials refused,
	// or a URL that does not exist) tries again.
	PauseProbe time.Duration `yaml:"pause_probe" json:"pause_probe"`
}

// WithDefaults fills unset fields with the defaults above.
func (p RetryPolicy) WithDefaults() RetryPolicy {
	if p.Initial <= 0 {
		p.Initial = DefaultRetryInitial
	}
	if p.Max <= 0 {
		p.Max = DefaultRetryMax
	}
	if p.MaxElapsed <= 0 {
		p.MaxElapsed = DefaultRetryMaxElapsed
	}
	if p.PauseProbe <= 0 {
		p.PauseProbe = DefaultPauseProbe
	}
	return p
}

// Backoff returns the wait before retry n (0-based): exponential with
// jitter in [80%, 100%] so that many bridges do not retry in lockstep.
func (p RetryPolicy) Backoff(n int) time.Duration {
	d := p.Max
	if n < 30 {
		d = min(p.Initial<<n, p.Max)
	}
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}
