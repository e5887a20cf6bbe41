package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	receivedEvents   *prometheus.CounterVec
	duplicateEvents  *prometheus.CounterVec
	rejectedEvents   *prometheus.CounterVec
	rejectedRequests *prometheus.CounterVec
	requests         *prometheus.CounterVec
	inFlight         *prometheus.GaugeVec
	requestSeconds   *prometheus.HistogramVec
	publishSeconds   prometheus.Histogram
	bodyBytes        prometheus.Histogram
	backpressure     prometheus.Counter
	sdkExceptions    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	const ns = "statsig_bridge"
	return &metrics{
		receivedEvents: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "received_events_total",
			Help: "Events stored in the log, by intake (sdk, webhook, import)."}, []string{"source"}),
		duplicateEvents: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "duplicate_events_total",
			Help: "Events of requests the log held already (the same request within its 2-minute duplicate window, as an SDK's resend): acknowledged, not stored again, by intake."}, []string{"source"}),
		rejectedEvents: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "rejected_events_total",
			Help: "Events refused at intake, by reason."}, []string{"reason"}),
		rejectedRequests: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "rejected_requests_total",
			Help: "Requests refused as a whole, by reason."}, []string{"reason"}),
		requests: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "http_requests_total",
			Help: "Intake HTTP requests, by endpoint and status code."}, []string{"endpoint", "code"}),
		inFlight: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "http_requests_in_flight",
			Help: "Intake HTTP requests being served (body being received, decoded or stored), by endpoint."}, []string{"endpoint"}),
		requestSeconds: f.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "http_request_duration_seconds",
			Help: "Intake request latency, including the durable write.", Buckets: prometheus.DefBuckets}, []string{"endpoint"}),
		publishSeconds: f.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "log_append_duration_seconds",
			Help: "Time to store a batch in the log.", Buckets: prometheus.ExponentialBuckets(0.0001, 3, 10)}),
		bodyBytes: f.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "request_body_bytes",
			Help: "Decompressed intake body sizes.", Buckets: prometheus.ExponentialBuckets(256, 4, 9)}),
		backpressure: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "backpressure_responses_total",
			Help: "Requests answered 503 because the log was full."}),
		sdkExceptions: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "sdk_exceptions_total",
			Help: "SDK exception reports received at /v1/sdk_exception (counted, not stored)."}),
	}
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// instrument counts requests by endpoint and status, times them and
// gauges those in flight (slow senders show there while they send).
func (s *Server) instrument(endpoint string, next http.Handler) http.Handler {
	hist := s.metrics.requestSeconds.WithLabelValues(endpoint)
	inFlight := s.metrics.inFlight.WithLabelValues(endpoint)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inFlight.Inc()
		defer inFlight.Dec()
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(rec, r)
		hist.Observe(time.Since(start).Seconds())
		s.metrics.requests.WithLabelValues(endpoint, strconv.Itoa(rec.code)).Inc()
	})
}
