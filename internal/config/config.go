package config

import (
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/delivery"
	"github.com/statsig-bridge/statsig-bridge/internal/logconfig"
	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"
)

// Defaults.
const (
	DefaultListen          = "127.0.0.1:8080"
	DefaultDataDir         = "./data"
	DefaultSpecsAPI        = "https://api.statsigcdn.com/v1"
	DefaultSpecsRefresh    = time.Minute
	DefaultShutdownTimeout = 10 * time.Second
	// DefaultMemoryLimit is the Go runtime's soft memory limit when
	// neither memory_limit nor GOMEMLIMIT sets one (BENCHMARKS.md, "Memory").
	// 240 MiB, not 256: with SQLite's page cache and the binary beside the
	// Go heap, a default serve loading its warehouse backlog peaked at
	// 302-306 MB RSS at 256 and at 284 MB at 240, and Segment delivered as
	// fast (issue 13, fourth round).
	DefaultMemoryLimit = 240 << 20
	// MinMemoryLimit is the smallest memory_limit accepted: below it the
	// garbage collector would run nearly all the time.
	MinMemoryLimit         = 64 << 20
	DefaultSegmentEndpoint = "https://api.segment.io"
	// DefaultStatsigEventsAPI is where Statsig's server SDKs log events.
	DefaultStatsigEventsAPI = "https://events.statsigapi.net/v1"
	// The log's and delivery's defaults have one source each, shown here.
	DefaultLogMaxBytes    = logconfig.DefaultMaxBytes
	DefaultAckWait        = logconfig.DefaultAckWait
	DefaultTrimInterval   = logconfig.DefaultTrimInterval
	DefaultConcurrency    = delivery.DefaultConcurrency
	DefaultFlushInterval  = delivery.DefaultFlushInterval
	DefaultRequestsPerSec = delivery.DefaultRequestsPerSecond
)

// Config is the whole configuration.
type Config struct {
	// Listen is the HTTP address (BRIDGE_LISTEN).
	Listen string `yaml:"listen" json:"listen"`
	// DataDir holds the embedded log (BRIDGE_DATA_DIR).
	DataDir string `yaml:"data_dir" json:"data_dir"`
	// LogLevel is debug, info, warn or error (BRIDGE_LOG_LEVEL).
	LogLevel string `yaml:"log_level" json:"log_level"`
	// ShutdownTimeout bounds a graceful stop.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout" json:"shutdown_timeout"`
	// MemoryLimit is the Go runtime's soft memory limit in bytes
	// (BRIDGE_MEMORY_LIMIT): as the process nears it the garbage collector
	// runs more often, so memory stays near it under full load instead of
	// following the heap's growth (the embedded log's block caches, batches
	// in flight). -1: no limit. GOMEMLIMIT in the environment wins.
	MemoryLimit  int64         `yaml:"memory_limit" json:"memory_limit"`
	Intake       Intake        `yaml:"intake" json:"intake"`
	Server       Server        `yaml:"server" json:"server"`
	TLS          TLS           `yaml:"tls" json:"tls"`
	Log          Log           `yaml:"log" json:"log"`
	Specs        Specs         `yaml:"specs" json:"specs"`
	UI           UI            `yaml:"ui" json:"ui"`
	Destinations []Destination `yaml:"destinations" json:"destinations"`
}

// Intake configures the HTTP intakes.
type Intake struct {
	// APIKeys are the accepted STATSIG-API-KEY values (STATSIG_API_KEYS,
	// comma-separated). Empty: any key, only on a loopback address.
	APIKeys []string `yaml:"api_keys" json:"api_keys" secret:"true"`
	// WebhookSecret verifies the Generic Webhook (STATSIG_WEBHOOK_SECRET).
	WebhookSecret string `yaml:"webhook_secret" json:"webhook_secret" secret:"true"`
	// WebhookTolerance is the largest accepted webhook clock difference.
	WebhookTolerance time.Duration `yaml:"webhook_tolerance" json:"webhook_tolerance"`
	// MaxBodyBytes bounds a request body after decompression (BRIDGE_MAX_BODY_BYTES).
	MaxBodyBytes int64 `yaml:"max_body_bytes" json:"max_body_bytes"`
	// MaxEvents bounds the events of one request.
	MaxEvents int `yaml:"max_events" json:"max_events"`
	// StoreTimeout bounds the wait for the log to store a batch (then 503).
	StoreTimeout time.Duration `yaml:"store_timeout" json:"store_timeout"`
	// MaxConcurrentRequests bounds the intake requests handled at once.
	MaxConcurrentRequests int `yaml:"max_concurrent_requests" json:"max_concurrent_requests"`
	// CORSOrigins are the browser origins allowed to post events (the JS
	// client from web pages); "*" allows any, [] none (BRIDGE_CORS_ORIGINS).
	CORSOrigins []string `yaml:"cors_origins" json:"cors_origins"`
}

// Log configures the durable log.
type Log struct {
	// NATSURL selects an external JetStream (BRIDGE_NATS_URL); empty runs
	// one embedded in the process, with no TCP port.
	NATSURL string `yaml:"nats_url" json:"nats_url" secret:"url"`
	// MaxBytes is the log's size limit; when reached, intake answers 503.
	MaxBytes int64 `yaml:"max_bytes" json:"max_bytes"`
	// Replicas of the stream (3 on a cluster).
	Replicas int `yaml:"replicas" json:"replicas"`
	// SyncAlways fsyncs every write (survives power loss, not only a crash
	// of the process); embedded only.
	SyncAlways bool `yaml:"sync_always" json:"sync_always"`
	// AckWait is how long a destination may hold a batch before the log
	// hands it out again.
	AckWait time.Duration `yaml:"ack_wait" json:"ack_wait"`
	// DeadLetterMaxAge is how long dead letters are kept.
	DeadLetterMaxAge time.Duration `yaml:"dead_letter_max_age" json:"dead_letter_max_age"`
	// RemoveStaleDestinations deletes, at start, the log positions of
	// destinations no longer configured. Such a position holds every batch
	// after it in the log (it was never delivered there), so the log fills
	// and intake answers 503. Off by default: a destination removed by
	// mistake keeps its place until someone decides.
	RemoveStaleDestinations bool `yaml:"remove_stale_destinations" json:"remove_stale_destinations"`
	// Keep holds batches every destination has acked for this long after
	// they were stored, so that `statsig-bridge replay` can re-send them.
	// 0 (the default) frees them as soon as every destination has acked.
	// The cost is disk: the log then holds about Keep's worth of traffic
	// on top of the unfinished backlog, all counted against MaxBytes.
	Keep time.Duration `yaml:"keep" json:"keep"`
	// TrimInterval is how often the log frees what every destination has
	// acked (default 30s).
	TrimInterval time.Duration `yaml:"trim_interval" json:"trim_interval"`
	// DeadLetterMaxBytes caps the dead-letter stream (default 1 GiB). When
	// it is full, events that fail stay unacked in the log rather than
	// being dropped.
	DeadLetterMaxBytes int64 `yaml:"dead_letter_max_bytes" json:"dead_letter_max_bytes"`
	// Stream and Subject name the events stream and the subject it
	// captures; DeadLetterStream and DeadLetterSubject the dead-letter
	// stream and its subject prefix. Empty takes the queue's defaults
	// (STATSIG_EVENTS, statsig.events, STATSIG_DEADLETTER,
	// statsig.deadletter); set them to run several bridges, or tests, on
	// one shared JetStream without their streams or subjects overlapping.
	Stream            string `yaml:"stream" json:"stream,omitempty"`
	Subject           string `yaml:"subject" json:"subject,omitempty"`
	DeadLetterStream  string `yaml:"dead_letter_stream" json:"dead_letter_stream,omitempty"`
	DeadLetterSubject string `yaml:"dead_letter_subject" json:"dead_letter_subject,omitempty"`
}

// UI configures the debugger pages and their API under /. On a loopback
// listen address they are open; on any other address they need Token or
// BasicAuth, and are off when neither is set (event payloads carry
// personal data).
type UI struct {
	// Enabled turns the pages on (default true).
	Enabled *bool `yaml:"enabled" json:"enabled"`
	// Token is accepted as ?token= or Authorization: Bearer (BRIDGE_UI_TOKEN).
	Token string `yaml:"token" json:"token" secret:"true"`
	// BasicAuth is "user:password" for HTTP basic auth.
	BasicAuth string `yaml:"basic_auth" json:"basic_auth" secret:"true"`
	// StatsInterval is how often this process stores its delivery
	// statistics in the log (every minute; tests shorten it), where every
	// process and a restart read them. Not read from files.
	StatsInterval time.Duration `yaml:"-" json:"-"`
}

// On reports whether the UI is enabled (unset means yes).
func (u UI) On() bool { return u.Enabled == nil || *u.Enabled }

// Specs configures fetching the project's config specs.
type Specs struct {
	// ServerSecret is the Statsig server secret (STATSIG_SERVER_SECRET).
	ServerSecret string `yaml:"server_secret" json:"server_secret" secret:"true"`
	// API is the specs base URL (STATSIG_SPECS_API).
	API string `yaml:"api" json:"api"`
	// Refresh is the polling interval.
	Refresh time.Duration `yaml:"refresh" json:"refresh"`
}

// Destination is one delivery target with its own filter and mapping.
type Destination struct {
	Name string `yaml:"name" json:"name"`
	// Type is "segment", "warehouse", "webhook" or "statsig"; the section of
	// the same name configures it.
	Type      string                `yaml:"type" json:"type"`
	Segment   *Segment              `yaml:"segment" json:"segment,omitempty"`
	Warehouse *Warehouse            `yaml:"warehouse" json:"warehouse,omitempty"`
	Webhook   *Webhook              `yaml:"webhook" json:"webhook,omitempty"`
	Statsig   *StatsigTee           `yaml:"statsig" json:"statsig,omitempty"`
	Mapping   mappingconfig.Options `yaml:"mapping" json:"mapping"`
	Delivery  Delivery              `yaml:"delivery" json:"delivery"`
}

// Warehouse configures a SQL warehouse loaded with Segment's schema.
type Warehouse struct {
	// Driver is "sqlite" (embedded, a database file per source in
	// data_dir/warehouse) or "postgres".
	Driver string `yaml:"driver" json:"driver"`
	// DSN is the Postgres connection string (BRIDGE_WAREHOUSE_DSN), or the
	// SQLite file path (default data_dir/warehouse/<schema>.db).
	DSN string `yaml:"dsn" json:"dsn" secret:"url"`
	// Schema is the source's schema (Postgres) or database name (SQLite),
	// as Segment names it after the source: default "statsig".
	Schema string `yaml:"schema" json:"schema"`
	// MaxStringLength truncates strings in property and context columns
	// to this many characters; 0 (default) keeps them whole, 512 does as
	// Segment's warehouses do (Segment conformance check 41).
	MaxStringLength int `yaml:"max_string_length" json:"max_string_length"`
	// MaxLag is how far the warehouse may fall behind the log while it
	// gives the CPU to intake and streaming destinations (Segment,
	// webhooks, the tee); 0 loads beside them at full speed.
	// Segment's own warehouses load every few hours. Default
	// DefaultWarehouseMaxLag (BRIDGE_WAREHOUSE_MAX_LAG).
	MaxLag *mappingconfig.Window `yaml:"max_lag" json:"max_lag"`
}

// DefaultWarehouseMaxLag is warehouse.max_lag when unset: minutes, not the
// hours of Segment's sync schedule, so the tables stay fresh for an
// operator checking an experiment.
const DefaultWarehouseMaxLag = 5 * time.Minute

// Webhook configures a destination that POSTs JSON batches of mapped Track
// messages to a URL (Segment's "streaming destinations").
type Webhook struct {
	// URL receives the batches.
	URL string `yaml:"url" json:"url" secret:"url"`
	// Secret, when set, signs each request like Statsig signs its webhook:
	// X-Statsig-Request-Timestamp and X-Statsig-Signature "v0=" + hex
	// HMAC-SHA256 of "v0:<timestamp>:<body>".
	Secret string `yaml:"secret" json:"secret" secret:"true"`
	// Headers are added to every request (e.g. Authorization).
	Headers map[string]string `yaml:"headers" json:"headers,omitempty" secret:"values"`
	// Timeout bounds one request.
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
}

// StatsigTee forwards the original events to Statsig's event API, so the
// bridge can sit in front of the SDKs without Statsig losing any data.
type StatsigTee struct {
	// API is the event API base; the bridge POSTs {api}/log_event
	// (STATSIG_EVENTS_API, default https://events.statsigapi.net/v1).
	API string `yaml:"api" json:"api" secret:"url"`
	// ServerSecret authenticates (default: specs.server_secret).
	ServerSecret string `yaml:"server_secret" json:"server_secret" secret:"true"`
	// Timeout bounds one request.
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
}

// Segment configures a Segment (or Segment-compatible) destination.
type Segment struct {
	// WriteKey is the source's write key (SEGMENT_WRITE_KEY).
	WriteKey string `yaml:"write_key" json:"write_key" secret:"true"`
	// Endpoint is the API base URL (SEGMENT_ENDPOINT): US by default,
	// https://events.eu1.segmentapis.com for EU workspaces.
	Endpoint string `yaml:"endpoint" json:"endpoint" secret:"url"`
	// Gzip compresses requests.
	Gzip bool `yaml:"gzip" json:"gzip"`
	// Timeout bounds one request.
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
	// PartnerSource sends as a Segment partner source: at most
	// PartnerSourceRequestsPerSec requests a second (Segment's ask of
	// partners), the destination's requests_per_second default.
	PartnerSource bool `yaml:"partner_source" json:"partner_source"`
}

// PartnerSourceRequestsPerSec is the request rate Segment asks partner
// sources to stay under.
const PartnerSourceRequestsPerSec = delivery.PartnerSourceRequestsPerSecond

// Delivery tunes a destination's batching, concurrency, request rate and
// retries; its defaults are package delivery's.
type Delivery = delivery.Options
