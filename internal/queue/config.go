package queue

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/logconfig"
)

// Defaults for [Config], from package logconfig (their one source, which the
// configuration shows without importing the log).
const (
	DefaultStream              = logconfig.DefaultStream
	DefaultSubject             = logconfig.DefaultSubject
	DefaultDeadLetterStream    = logconfig.DefaultDeadLetterStream
	DefaultDeadLetterSubject   = logconfig.DefaultDeadLetterSubject
	DefaultMaxBytes            = logconfig.DefaultMaxBytes
	DefaultMaxMsgSize          = logconfig.DefaultMaxMsgSize
	DefaultReplicas            = logconfig.DefaultReplicas
	DefaultDeadLetterMaxBytes  = logconfig.DefaultDeadLetterMaxBytes
	DefaultDeadLetterMaxAge    = logconfig.DefaultDeadLetterMaxAge
	DefaultAckWait             = logconfig.DefaultAckWait
	DefaultMaxAckPending       = logconfig.DefaultMaxAckPending
	duplicateWindow            = 2 * time.Minute // SDK retries of one request arrive well within this
	headerAllowance            = 4 << 10         // room for Nats-Msg-Id and friends on top of the payload
	defaultPublishAckTimeout   = time.Minute     // resolves futures whose ack was lost with a connection
	defaultStallWait           = 5 * time.Second // max wait for a free in-flight slot when ctx has no deadline
	embeddedReadyTimeout       = 10 * time.Second
	embeddedStoreHeadroomRatio = 8 // JetStreamMaxStore = streams' limits + 1/8, for file-store overhead
)

// Config says where the durable log lives and how big it may grow. Only
// DataDir (embedded) or URL (external) must be set; every other zero field
// takes the default constant above.
type Config struct {
	// URL of an external NATS cluster (comma-separated URLs). Empty runs
	// nats-server in-process, with no network listener at all.
	URL string `yaml:"url"`
	// DataDir holds the embedded server's JetStream store (DataDir/jetstream).
	// Required when URL is empty; ignored otherwise.
	DataDir string `yaml:"data_dir"`
	// Stream is the JetStream stream holding accepted batches.
	Stream string `yaml:"stream"`
	// Subject the batches are published on; the stream captures only it.
	Subject string `yaml:"subject"`
	// DeadLetterStream holds events that a destination rejected for good.
	DeadLetterStream string `yaml:"dead_letter_stream"`
	// DeadLetterSubject is the prefix of dead-letter subjects; each
	// destination publishes on DeadLetterSubject + "." + destination.
	DeadLetterSubject string `yaml:"dead_letter_subject"`
	// MaxBytes caps the stream. When reached, Publish fails with ErrFull:
	// the log never drops batches that some destination has not delivered.
	MaxBytes int64 `yaml:"max_bytes"`
	// MaxMsgSize is the largest batch Publish accepts (ErrTooLarge above it).
	// An external server's max_payload must be at least this large.
	MaxMsgSize int32 `yaml:"max_msg_size"`
	// Replicas of each stream: 1 for a single server, 3 for a cluster.
	Replicas int `yaml:"replicas"`
	// SyncAlways makes the embedded server fsync every write, so an accepted
	// batch also survives power loss, not only a process crash. Ignored for
	// an external server, whose own configuration decides.
	SyncAlways bool `yaml:"sync_always"`
	// DeadLetterMaxAge is how long dead letters are kept for inspection and
	// re-drive.
	DeadLetterMaxAge time.Duration `yaml:"dead_letter_max_age"`
	// DeadLetterMaxBytes caps the dead-letter stream. It also discards new
	// messages when full (DeadLetter then fails and the caller keeps the
	// event unacked) so that dead letters are never silently lost.
	DeadLetterMaxBytes int64 `yaml:"dead_letter_max_bytes"`
	// Keep holds acked batches for this long after they were stored, so
	// that they can be replayed; Trim then purges only acked batches older
	// than Keep. 0 purges every acked batch. The cost is disk: Keep's worth
	// of traffic stays in the stream and counts against MaxBytes.
	Keep time.Duration `yaml:"keep"`
}

// withDefaults returns cfg with every zero field set to its default; all
// defaults are filled here and nowhere else.
func (cfg Config) withDefaults() Config {
	if cfg.Stream == "" {
		cfg.Stream = DefaultStream
	}
	if cfg.Subject == "" {
		cfg.Subject = DefaultSubject
	}
	if cfg.DeadLetterStream == "" {
		cfg.DeadLetterStream = DefaultDeadLetterStream
	}
	if cfg.DeadLetterSubject == "" {
		cfg.DeadLetterSubject = DefaultDeadLetterSubject
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MaxMsgSize == 0 {
		cfg.MaxMsgSize = DefaultMaxMsgSize
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = DefaultReplicas
	}
	if cfg.DeadLetterMaxAge == 0 {
		cfg.DeadLetterMaxAge = DefaultDeadLetterMaxAge
	}
	if cfg.DeadLetterMaxBytes == 0 {
		cfg.DeadLetterMaxBytes = DefaultDeadLetterMaxBytes
	}
	return cfg
}

// namePattern is what JetStream accepts in stream and consumer names and in
// a single subject token, minus anything that would need escaping.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// subjectPattern is a literal subject: dot-separated tokens, no wildcards.
var subjectPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)

// Validate reports every problem in cfg (after defaults) as "field: reason".
func (cfg Config) Validate() error {
	cfg = cfg.withDefaults()
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if cfg.URL == "" && cfg.DataDir == "" {
		add("data_dir: required for the embedded server (or set url to use an external NATS)")
	}
	if cfg.URL == "" && cfg.Replicas != 1 {
		add("replicas: %d needs a NATS cluster; the embedded server is a single node, use 1 or set url", cfg.Replicas)
	}
	if cfg.Replicas < 1 || cfg.Replicas > 5 {
		add("replicas: %d is out of range; use 1, 3 or 5", cfg.Replicas)
	}
	for _, f := range []struct{ field, v string }{{"stream", cfg.Stream}, {"dead_letter_stream", cfg.DeadLetterStream}} {
		if !namePattern.MatchString(f.v) {
			add("%s: %q is not a valid stream name; use letters, digits, '-' and '_'", f.field, f.v)
		}
	}
	if cfg.Stream == cfg.DeadLetterStream {
		add("dead_letter_stream: must differ from stream %q", cfg.Stream)
	}
	for _, f := range []struct{ field, v string }{{"subject", cfg.Subject}, {"dead_letter_subject", cfg.DeadLetterSubject}} {
		if !subjectPattern.MatchString(f.v) {
			add("%s: %q is not a literal subject; use dot-separated tokens without wildcards", f.field, f.v)
		}
	}
	if cfg.Subject == cfg.DeadLetterSubject {
		add("dead_letter_subject: must differ from subject %q", cfg.Subject)
	}
	if cfg.MaxBytes < 0 {
		add("max_bytes: %d must be positive", cfg.MaxBytes)
	}
	if cfg.MaxMsgSize < 0 || int64(cfg.MaxMsgSize) > maxStoredBatch {
		add("max_msg_size: %d must be between 1 and 64 MiB (the NATS limit)", cfg.MaxMsgSize)
	}
	if cfg.MaxBytes > 0 && int64(cfg.MaxMsgSize) > cfg.MaxBytes {
		add("max_msg_size: %d exceeds max_bytes %d", cfg.MaxMsgSize, cfg.MaxBytes)
	}
	if cfg.DeadLetterMaxBytes < 0 {
		add("dead_letter_max_bytes: %d must be positive", cfg.DeadLetterMaxBytes)
	}
	if cfg.Keep < 0 {
		add("keep: %s must not be negative", cfg.Keep)
	}
	if cfg.DeadLetterMaxAge < duplicateWindow {
		add("dead_letter_max_age: %s must be at least %s (the duplicate window)", cfg.DeadLetterMaxAge, duplicateWindow)
	}
	if err := checkURLs(cfg.URL); err != nil {
		add("url: %v", err)
	}
	return errors.Join(errs...)
}

// checkURLs parses each comma-separated server URL as the NATS client does
// (nats:// when no scheme is given). The client's own parse error quotes
// the whole URL, user and password included; this one names only what is
// wrong.
func checkURLs(urls string) error {
	if urls == "" {
		return nil
	}
	for i, u := range strings.Split(urls, ",") {
		u = strings.TrimSpace(u)
		if !strings.Contains(u, "://") {
			u = "nats://" + u
		}
		if _, err := url.Parse(u); err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return fmt.Errorf("server URL %d of %d does not parse: %v (the URL is not shown: it may hold credentials)", i+1, strings.Count(urls, ",")+1, err)
		}
	}
	return nil
}
