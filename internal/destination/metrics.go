package destination

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are the delivery metrics of every destination, labelled by name.
type Metrics struct {
	Delivered     *prometheus.CounterVec
	Retried       *prometheus.CounterVec
	DeadLettered  *prometheus.CounterVec
	Filtered      *prometheus.CounterVec
	BatchEvents   *prometheus.HistogramVec
	BatchBytes    *prometheus.HistogramVec
	Latency       *prometheus.HistogramVec
	ConsumerLag   *prometheus.GaugeVec
	AckPending    *prometheus.GaugeVec
	Paused        *prometheus.GaugeVec
	Unresolved    *prometheus.CounterVec
	RequestErrors *prometheus.CounterVec
	StateErrors   *prometheus.CounterVec
	Yielded       *prometheus.CounterVec
}

// NewMetrics registers the delivery metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	const ns = "statsig_bridge"
	return &Metrics{
		Delivered: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "delivered_events_total",
			Help: "Events delivered, by destination and whether it took a retry."}, []string{"destination", "attempt"}),
		Retried: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "retried_batches_total",
			Help: "Batch delivery attempts that failed and will be retried, by destination."}, []string{"destination"}),
		DeadLettered: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "dead_lettered_events_total",
			Help: "Events moved to the dead-letter stream, by destination and reason."}, []string{"destination", "reason"}),
		Filtered: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "filtered_events_total",
			Help: "Events a destination's filter left out, by destination, event type and reason (type, name, environment, duplicate_exposure, source)."}, []string{"destination", "type", "reason"}),
		BatchEvents: f.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "batch_events",
			Help:    "Events per delivered batch.",
			Buckets: []float64{1, 10, 50, 100, 250, 500, 1000, 2500}}, []string{"destination"}),
		BatchBytes: f.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "batch_bytes",
			Help:    "Bytes per delivered batch request.",
			Buckets: prometheus.ExponentialBuckets(1024, 4, 8)}, []string{"destination"}),
		Latency: f.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "delivery_latency_seconds",
			Help:    "Time from an event's arrival at the bridge to its delivery.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600}}, []string{"destination"}),
		ConsumerLag: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "consumer_lag_messages",
			Help: "Log messages (batches) not yet delivered to the destination."}, []string{"destination"}),
		AckPending: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "consumer_ack_pending_messages",
			Help: "Log messages the destination is working on."}, []string{"destination"}),
		Paused: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "destination_paused",
			Help: "1 while the destination is paused because it refuses every request (credentials refused, or its URL not found)."}, []string{"destination"}),
		Unresolved: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "experiment_unresolved_events_total",
			Help: "Exposures whose experiment could not be resolved from config specs, by destination."}, []string{"destination"}),
		RequestErrors: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "destination_request_errors_total",
			Help: "Failed delivery requests, by destination and class (status code or network)."}, []string{"destination", "class"}),
		StateErrors: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "state_errors_total",
			Help: "Fetches delivered without their state in the log (dedupe: every exposure sent; identify: every identify sent), by destination and state."}, []string{"destination", "state"}),
		Yielded: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "yielded_seconds_total",
			Help: "Time a warehouse waited before fetching, giving the CPU to intake and streaming delivery (warehouse.max_lag), by destination; summed over its fetch loops."}, []string{"destination"}),
	}
}
