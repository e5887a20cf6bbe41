package server

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/statsig-bridge/statsig-bridge/internal/cpupressure"
	"github.com/statsig-bridge/statsig-bridge/internal/queue"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// Defaults for intake limits.
const (
	DefaultMaxBodyBytes     = 10 << 20
	DefaultMaxEvents        = 10_000
	DefaultWebhookTolerance = 5 * time.Minute
	DefaultStoreTimeout     = 5 * time.Second
	DefaultMaxConcurrent    = 256
)

// Config configures the HTTP server.
type Config struct {
	// APIKeys are the accepted STATSIG-API-KEY values (secrets).
	APIKeys []string
	// AllowAnyKey accepts requests with any key or none: only for a bridge
	// listening on loopback with no keys configured.
	AllowAnyKey bool
	// WebhookSecret verifies Statsig's Generic Webhook signatures.
	WebhookSecret    string
	WebhookTolerance time.Duration
	// MaxBodyBytes bounds a body after decompression.
	MaxBodyBytes int64
	// MaxEvents bounds the events of one request.
	MaxEvents int
	// StoreTimeout bounds the wait for the log to store a batch; past it
	// the request is answered 503 with Retry-After.
	StoreTimeout time.Duration
	// MaxConcurrent bounds the intake requests handled at once (each holds
	// its body in memory); more are answered 503 with Retry-After.
	MaxConcurrent int
	// CORSOrigins are the browser origins allowed to post events ("*" for
	// any); empty turns CORS off.
	CORSOrigins []string
	// Now is the clock (tests inject it to accept old signed fixtures).
	Now func() time.Time
	// Activity, if set, is marked at each intake request: background work
	// (the warehouse) gives way to intake while it waits for a CPU.
	Activity *cpupressure.Activity
}

// Publisher stores a batch durably; queue.Log implements it.
type Publisher interface {
	Store(ctx context.Context, data []byte, msgID string) (queue.Stored, error)
	Ready(ctx context.Context) error
}

// Observer hears every batch stored by an intake (the debugger).
type Observer interface {
	Received(b *statsig.Batch, rejected []statsig.Rejection)
}

// Server serves the bridge's HTTP endpoints.
type Server struct {
	cfg      Config
	log      Publisher
	logger   *slog.Logger
	metrics  *metrics
	gatherer prometheus.Gatherer
	keys     [][32]byte
	observer Observer
	// destinations, if set, reports the destinations' checks (/readyz).
	destinations func() any
	mux          *http.ServeMux
	// slots bounds the intake requests decoded and stored at once; budget
	// the bytes of the bodies being received (which hold no slot).
	slots  chan struct{}
	budget *bodyBudget
}

// New returns a Server storing batches in log and registering its metrics
// with reg.
func New(cfg Config, log Publisher, reg *prometheus.Registry, logger *slog.Logger) *Server {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxEvents <= 0 {
		cfg.MaxEvents = DefaultMaxEvents
	}
	if cfg.WebhookTolerance <= 0 {
		cfg.WebhookTolerance = DefaultWebhookTolerance
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = DefaultStoreTimeout
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	s := &Server{cfg: cfg, log: log, logger: logger, metrics: newMetrics(reg), gatherer: reg, mux: http.NewServeMux(),
		slots: make(chan struct{}, cfg.MaxConcurrent), budget: &bodyBudget{max: int64(cfg.MaxConcurrent) * (cfg.MaxBodyBytes + 1)}}
	for _, k := range cfg.APIKeys {
		if k = strings.TrimSpace(k); k != "" {
			s.keys = append(s.keys, sha256.Sum256([]byte(k)))
		}
	}
	s.routes()
	return s
}

// SetObserver sets the intake observer; call before serving.
func (s *Server) SetObserver(o Observer) { s.observer = o }

// Handle adds a handler (the debugger's pages) to the server's mux.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Handler returns the server's root handler.
func (s *Server) Handler() http.Handler { return s.mux }

func (s *Server) routes() {
	intake := func(endpoint string) http.Handler {
		return s.cors(s.instrument(endpoint, s.requireKey(s.checkContentType(http.HandlerFunc(s.handleEvents)))))
	}
	s.mux.Handle("POST /v1/log_event", intake("log_event"))
	s.mux.Handle("POST /v1/rgstr", intake("rgstr"))
	s.mux.Handle("OPTIONS /v1/log_event", s.cors(http.NotFoundHandler()))
	s.mux.Handle("OPTIONS /v1/rgstr", s.cors(http.NotFoundHandler()))
	s.mux.Handle("POST /v1/sdk_exception", s.instrument("sdk_exception", http.HandlerFunc(s.handleSDKException)))
	s.mux.Handle("POST /webhooks/statsig", s.instrument("webhook", s.checkContentType(http.HandlerFunc(s.handleWebhook))))
	// Any other method on an intake path: 405 with Allow and a JSON body,
	// like every other intake answer (the SDKs read JSON only).
	for path, allow := range map[string]string{
		"/v1/log_event": "POST, OPTIONS", "/v1/rgstr": "POST, OPTIONS",
		"/v1/sdk_exception": "POST", "/webhooks/statsig": "POST",
	} {
		s.mux.HandleFunc(path, methodNotAllowed(path, allow))
	}
	for _, p := range []string{"/v1/initialize", "/v1/download_config_specs/", "/v1/get_id_lists", "/v1/get_id_list"} {
		s.mux.HandleFunc(p, s.handleNotServed)
	}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", s.handleReady)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{}))
}

// requireKey checks the SDK key: header STATSIG-API-KEY (any case), or the
// js-client's query k= (browsers' beacons can send no custom headers).
// Keys are compared as SHA-256 digests in constant time, against every
// configured key, so timing tells nothing about a key's prefix.
func (s *Server) requireKey(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := sdkKey(r)
		if s.cfg.AllowAnyKey && len(s.keys) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		if key == "" {
			s.metrics.rejectedRequests.WithLabelValues("missing_api_key").Inc()
			writeError(w, http.StatusUnauthorized, "missing STATSIG-API-KEY header (or k= query parameter)")
			return
		}
		if !keyMatches(key, s.keys) {
			s.metrics.rejectedRequests.WithLabelValues("invalid_api_key").Inc()
			writeError(w, http.StatusUnauthorized, "STATSIG-API-KEY is not one of the keys this bridge accepts (STATSIG_API_KEYS)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// acquire takes an intake slot for decoding and storing a received body,
// or answers 503 with Retry-After when MaxConcurrent requests already hold
// one: memory stays bounded and SDKs retry later. The caller releases the
// slot with <-s.slots.
func (s *Server) acquire(w http.ResponseWriter) bool {
	select {
	case s.slots <- struct{}{}:
		return true
	default:
		s.metrics.rejectedRequests.WithLabelValues("too_many_concurrent_requests").Inc()
		writeRetryLater(w, time.Second, "the bridge is busy; retry later")
		return false
	}
}

func sdkKey(r *http.Request) string {
	if k := r.Header.Get("Statsig-Api-Key"); k != "" {
		return strings.TrimSpace(k)
	}
	return strings.TrimSpace(r.URL.Query().Get("k"))
}

func (s *Server) handleSDKException(w http.ResponseWriter, r *http.Request) {
	s.metrics.sdkExceptions.Inc()
	writeJSON(w, http.StatusAccepted, map[string]bool{"success": true})
}

// methodNotAllowed answers a request whose method path does not take.
func methodNotAllowed(path, allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s: use %s", r.Method, path, allow))
	}
}

// handleNotServed answers the SDK endpoints the bridge does not serve, so a
// mis-pointed SDK fails loudly instead of evaluating with nothing.
func (s *Server) handleNotServed(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, "statsig-bridge only receives events (/v1/log_event, /v1/rgstr); point the SDK's config/initialize API at Statsig, and only its event logging at the bridge")
}

// SetDestinations has /readyz show f's answer (the destinations' checks)
// under "destinations". It informs and never fails readiness: intake
// stores events whatever a destination's state, and the log holds them
// until it takes them. Call before serving.
func (s *Server) SetDestinations(f func() any) { s.destinations = f }

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	body := map[string]any{"status": "ready"}
	if s.destinations != nil {
		body["destinations"] = s.destinations()
	}
	// What the operator must fix but does not stop intake (a NATS node too
	// old: the log is not trimmed meanwhile).
	if w, ok := s.log.(interface{ Warnings() []string }); ok {
		if warnings := w.Warnings(); len(warnings) > 0 {
			body["warnings"] = warnings
		}
	}
	if err := s.log.Ready(ctx); err != nil {
		body["status"], body["error"] = "log unreachable", err.Error()
		writeJSON(w, http.StatusServiceUnavailable, body)
		return
	}
	writeJSON(w, http.StatusOK, body)
}
