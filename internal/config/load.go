package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"

	"gopkg.in/yaml.v3"

	"github.com/statsig-bridge/statsig-bridge/internal/delivery"
	"github.com/statsig-bridge/statsig-bridge/internal/logconfig"
)

// varRef matches ${VAR} (and ${VAR:-default}) in a config file.
var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}`)

// Load reads a YAML config file, replacing ${VAR} from the environment.
// Unknown keys are errors naming the key.
//
// ${VAR} is replaced inside each parsed value, not in the file's text: a
// value from the environment is data, so a secret holding '#', ': ' or a
// quote arrives whole, and a ${VAR} in a comment needs no variable.
func Load(path string, getenv func(string) string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("config %s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("config %s is empty", path)
	}
	if unknown := unknownKeys(raw); len(unknown) > 0 {
		return nil, fmt.Errorf("config %s: %s", path, strings.Join(unknown, "; "))
	}
	var missing []string
	expandNode(&doc, getenv, &missing)
	if len(missing) > 0 {
		return nil, fmt.Errorf("config %s: environment variable(s) %s not set (use ${VAR:-default} for optional ones)", path, strings.Join(missing, ", "))
	}
	var c Config
	if err := doc.Decode(&c); err != nil {
		return nil, fmt.Errorf("config %s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	c.applyDefaults()
	return &c, nil
}

// unknownKeys decodes the file as written, before expansion, only to find
// keys the configuration does not have ("line N: field X not found in type
// …"); a ${VAR} standing where a number belongs is no problem here.
func unknownKeys(raw []byte) []string {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var c Config
	var te *yaml.TypeError
	if err := dec.Decode(&c); !errors.As(err, &te) {
		return nil
	}
	var unknown []string
	for _, e := range te.Errors {
		if strings.Contains(e, " not found in type ") {
			unknown = append(unknown, e)
		}
	}
	return unknown
}

// expandNode replaces ${VAR} and ${VAR:-default} in every scalar under n.
func expandNode(n *yaml.Node, getenv func(string) string, missing *[]string) {
	for _, c := range n.Content {
		expandNode(c, getenv, missing)
	}
	if n.Kind != yaml.ScalarNode || !strings.Contains(n.Value, "${") {
		return
	}
	n.Value = varRef.ReplaceAllStringFunc(n.Value, func(m string) string {
		sub := varRef.FindStringSubmatch(m)
		v := getenv(sub[1])
		if v == "" {
			v = sub[2]
		}
		if v == "" && !strings.Contains(m, ":-") {
			*missing = append(*missing, sub[1])
		}
		return v
	})
	if n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
		// A plain value takes the type its expanded text reads as: a
		// number for max_bytes, a duration string for ack_wait. But a
		// value that reads as null ("null", "~") is still a value: as
		// null, a secret "null" would vanish and a list lose the item.
		n.Tag = ""
		switch n.Value {
		case "~", "null", "Null", "NULL":
			n.Tag = "!!str"
		}
	}
}

// FromEnv builds the configuration with no file: environment variables and
// defaults (README "Configuration").
func FromEnv(getenv func(string) string) (*Config, error) {
	c := Config{
		Listen:   getenv("BRIDGE_LISTEN"),
		DataDir:  getenv("BRIDGE_DATA_DIR"),
		LogLevel: getenv("BRIDGE_LOG_LEVEL"),
		Intake: Intake{
			APIKeys:       splitList(getenv("STATSIG_API_KEYS")),
			WebhookSecret: getenv("STATSIG_WEBHOOK_SECRET"),
		},
		Log:   Log{NATSURL: getenv("BRIDGE_NATS_URL")},
		Specs: Specs{ServerSecret: getenv("STATSIG_SERVER_SECRET"), API: getenv("STATSIG_SPECS_API")},
		UI:    UI{Token: getenv("BRIDGE_UI_TOKEN")},
		TLS:   TLS{CertFile: getenv("BRIDGE_TLS_CERT_FILE"), KeyFile: getenv("BRIDGE_TLS_KEY_FILE")},
	}
	if v := getenv("BRIDGE_MAX_BODY_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("BRIDGE_MAX_BODY_BYTES: %q is not a positive number of bytes", v)
		}
		c.Intake.MaxBodyBytes = n
	}
	switch v := getenv("BRIDGE_CORS_ORIGINS"); v {
	case "":
	case "none":
		c.Intake.CORSOrigins = []string{}
	default:
		c.Intake.CORSOrigins = splitList(v)
	}
	if v := getenv("BRIDGE_MEMORY_LIMIT"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || (n <= 0 && n != -1) {
			return nil, fmt.Errorf("BRIDGE_MEMORY_LIMIT: %q is not a number of bytes (or -1 for none)", v)
		}
		c.MemoryLimit = n
	}
	if v := getenv("BRIDGE_LOG_MAX_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("BRIDGE_LOG_MAX_BYTES: %q is not a positive number of bytes", v)
		}
		c.Log.MaxBytes = n
	}
	if v := getenv("BRIDGE_ACK_WAIT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("BRIDGE_ACK_WAIT: %q is not a duration like 30s", v)
		}
		c.Log.AckWait = d
	}
	if v := getenv("BRIDGE_REMOVE_STALE_DESTINATIONS"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("BRIDGE_REMOVE_STALE_DESTINATIONS: %q is not true or false", v)
		}
		c.Log.RemoveStaleDestinations = b
	}
	if v := getenv("BRIDGE_LOG_KEEP"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("BRIDGE_LOG_KEEP: %q is not a duration like 24h", v)
		}
		c.Log.Keep = d
	}
	if key := getenv("SEGMENT_WRITE_KEY"); key != "" {
		c.Destinations = append(c.Destinations, Destination{
			Name: "segment", Type: "segment",
			Segment: &Segment{WriteKey: key, Endpoint: getenv("SEGMENT_ENDPOINT")},
		})
	}
	// The embedded SQLite warehouse is on unless turned off, so a first run
	// already has queryable data. On an external log Validate refuses it,
	// naming the fix (postgres or off): there the processes share the
	// destination's consumer, and a file per process would hold only part
	// of the events. Refused rather than silently left out, so that an
	// upgraded deployment decides, and removes the old position if it
	// turns the warehouse off.
	switch w := getenv("BRIDGE_WAREHOUSE"); w {
	case "off", "none":
	case "", "sqlite", "postgres":
		if w == "" {
			w = "sqlite"
		}
		c.Destinations = append(c.Destinations, Destination{
			Name: "warehouse", Type: "warehouse",
			Warehouse: &Warehouse{Driver: w, DSN: getenv("BRIDGE_WAREHOUSE_DSN"), Schema: getenv("BRIDGE_WAREHOUSE_SCHEMA")},
		})
		if v := getenv("BRIDGE_WAREHOUSE_MAX_LAG"); v != "" {
			var lag mappingconfig.Window
			_ = lag.UnmarshalText([]byte(v)) // a bad value is kept and named by Validate
			c.Destinations[len(c.Destinations)-1].Warehouse.MaxLag = &lag
		}
	default:
		return nil, fmt.Errorf("BRIDGE_WAREHOUSE: %q is not sqlite, postgres or off", w)
	}
	if u := getenv("WEBHOOK_URL"); u != "" {
		c.Destinations = append(c.Destinations, Destination{
			Name: "webhook", Type: "webhook", Webhook: &Webhook{URL: u, Secret: getenv("WEBHOOK_SECRET")},
		})
	}
	switch v := getenv("STATSIG_TEE"); v {
	case "", "off", "false", "0":
	case "on", "true", "1":
		c.Destinations = append(c.Destinations, Destination{
			Name: "statsig", Type: "statsig", Statsig: &StatsigTee{API: getenv("STATSIG_EVENTS_API")},
		})
	default:
		return nil, fmt.Errorf("STATSIG_TEE: %q is not on or off", v)
	}
	if v := getenv("STATSIG_EXPERIMENTS"); v != "" {
		for i := range c.Destinations {
			c.Destinations[i].Mapping.Experiments = splitList(v)
		}
	}
	c.applyDefaults()
	return &c, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (c *Config) applyDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Listen, DefaultListen)
	def(&c.DataDir, DefaultDataDir)
	def(&c.LogLevel, "info")
	def(&c.Specs.API, DefaultSpecsAPI)
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.MemoryLimit == 0 {
		c.MemoryLimit = DefaultMemoryLimit
	}
	if c.Intake.WebhookTolerance <= 0 {
		c.Intake.WebhookTolerance = 5 * time.Minute
	}
	if c.Intake.MaxBodyBytes <= 0 {
		c.Intake.MaxBodyBytes = 10 << 20
	}
	if c.Intake.StoreTimeout <= 0 {
		c.Intake.StoreTimeout = 5 * time.Second
	}
	if c.Intake.MaxConcurrentRequests <= 0 {
		c.Intake.MaxConcurrentRequests = 256
	}
	c.Server.applyDefaults()
	if c.Intake.CORSOrigins == nil {
		c.Intake.CORSOrigins = []string{"*"}
	}
	if c.Intake.MaxEvents <= 0 {
		c.Intake.MaxEvents = 10_000
	}
	if c.Log.MaxBytes <= 0 {
		c.Log.MaxBytes = DefaultLogMaxBytes
	}
	if c.Log.Replicas <= 0 {
		c.Log.Replicas = logconfig.DefaultReplicas
	}
	if c.Log.AckWait <= 0 {
		c.Log.AckWait = DefaultAckWait
	}
	// Streams and subjects by their effective names, so that validate and
	// the config view show what the log uses.
	def(&c.Log.Stream, logconfig.DefaultStream)
	def(&c.Log.Subject, logconfig.DefaultSubject)
	def(&c.Log.DeadLetterStream, logconfig.DefaultDeadLetterStream)
	def(&c.Log.DeadLetterSubject, logconfig.DefaultDeadLetterSubject)
	if c.Log.TrimInterval == 0 {
		c.Log.TrimInterval = DefaultTrimInterval
	}
	if c.Log.DeadLetterMaxBytes <= 0 {
		c.Log.DeadLetterMaxBytes = logconfig.DefaultDeadLetterMaxBytes
	}
	if c.Log.DeadLetterMaxAge <= 0 {
		c.Log.DeadLetterMaxAge = logconfig.DefaultDeadLetterMaxAge
	}
	if c.Specs.Refresh <= 0 {
		c.Specs.Refresh = DefaultSpecsRefresh
	}
	for i := range c.Destinations {
		d := &c.Destinations[i]
		if d.Type == "" {
			switch {
			case d.Segment != nil:
				d.Type = "segment"
			case d.Warehouse != nil:
				d.Type = "warehouse"
			case d.Webhook != nil:
				d.Type = "webhook"
			case d.Statsig != nil:
				d.Type = "statsig"
			}
		}
		if w := d.Warehouse; w != nil {
			def(&w.Driver, "sqlite")
			def(&w.Schema, "statsig")
			if w.Driver == "sqlite" && w.DSN == "" {
				w.DSN = filepath.Join(c.DataDir, "warehouse", w.Schema+".db")
			}
			if w.MaxLag == nil {
				lag := mappingconfig.Window(DefaultWarehouseMaxLag)
				w.MaxLag = &lag
			}
		}
		if w := d.Webhook; w != nil && w.Timeout <= 0 {
			w.Timeout = 10 * time.Second
		}
		if st := d.Statsig; st != nil {
			def(&st.API, DefaultStatsigEventsAPI)
			def(&st.ServerSecret, c.Specs.ServerSecret)
			if st.Timeout <= 0 {
				st.Timeout = 10 * time.Second
			}
		}
		if d.Segment != nil {
			def(&d.Segment.Endpoint, DefaultSegmentEndpoint)
			if d.Segment.Timeout <= 0 {
				d.Segment.Timeout = 10 * time.Second
			}
		}
		// The tee forwards events as the SDKs sent them: the mapping's default
		// types would drop the SDK-internal events Statsig gets from the SDKs
		// too, so only types, include and exclude set by the user apply.
		if d.Type != "statsig" {
			d.Mapping = d.Mapping.WithDefaults()
		}
		if d.Delivery.RequestsPerSecond <= 0 && d.Segment != nil && d.Segment.PartnerSource {
			d.Delivery.RequestsPerSecond = PartnerSourceRequestsPerSec
		}
		d.Delivery = d.Delivery.WithDefaults()
	}
}

// Validate returns every problem, each as "path: reason".
func (c *Config) Validate() []string {
	var errs []string
	add := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		add("listen: %q is not host:port", c.Listen)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		add("log_level: %q is not debug, info, warn or error", c.LogLevel)
	}
	if c.MemoryLimit != -1 && c.MemoryLimit < MinMemoryLimit {
		add("memory_limit: %d bytes is below %d (64 MiB), where the garbage collector would run nearly all the time; -1 sets no limit", c.MemoryLimit, MinMemoryLimit)
	}
	if c.Intake.MaxEvents > 1_000_000 {
		add("intake.max_events: %d is more than 1,000,000", c.Intake.MaxEvents)
	}
	c.validateServer(add)
	if c.UI.BasicAuth != "" && !strings.Contains(c.UI.BasicAuth, ":") {
		add("ui.basic_auth: must be user:password")
	}
	if c.Log.Replicas > 5 {
		add("log.replicas: %d is more than JetStream's 5", c.Log.Replicas)
	}
	if c.Log.Keep < 0 {
		add("log.keep: %s must not be negative", c.Log.Keep)
	}
	if c.Log.TrimInterval < 0 {
		add("log.trim_interval: %s must not be negative", c.Log.TrimInterval)
	}
	if c.Log.Replicas > 1 && c.Log.NATSURL == "" {
		add("log.replicas: %d needs an external JetStream cluster (log.nats_url)", c.Log.Replicas)
	}
	if c.Specs.ServerSecret != "" && !strings.HasPrefix(c.Specs.API, "http://") && !strings.HasPrefix(c.Specs.API, "https://") {
		add("specs.api: %q is not an http(s) URL", maskURL(c.Specs.API)) // the URL may carry credentials
	}
	seen := map[string]bool{}
	// tables maps a warehouse's tables (driver, database, schema) to the
	// first destination loading them: two loaders there would race.
	tables := map[[3]string]string{}
	for i, d := range c.Destinations {
		p := fmt.Sprintf("destinations[%d]", i)
		if d.Name == "" {
			add("%s.name: missing", p)
		} else if !validName(d.Name) {
			add("%s.name: %q may use only letters, digits, - and _", p, d.Name)
		} else if seen[d.Name] {
			add("%s.name: %q is used twice", p, d.Name)
		}
		seen[d.Name] = true
		switch d.Type {
		case "segment":
			if d.Segment == nil || d.Segment.WriteKey == "" {
				add("%s.segment.write_key: missing (SEGMENT_WRITE_KEY)", p)
			}
			switch {
			case d.Segment != nil && d.Segment.PartnerSource && d.Delivery.RequestsPerSecond > PartnerSourceRequestsPerSec:
				add("%s.delivery.requests_per_second: %g is over the %d requests a second Segment allows a partner source (segment.partner_source: true)", p, d.Delivery.RequestsPerSecond, PartnerSourceRequestsPerSec)
			case d.Delivery.RequestsPerSecond > DefaultRequestsPerSec && d.Segment != nil && segmentHosted(d.Segment.Endpoint):
				// Segment's workspace ceiling (conformance check 25): more
				// would be answered 429 at best. A Segment-compatible
				// receiver of one's own (RudderStack, a sink) sets its own.
				add("%s.delivery.requests_per_second: %g is over Segment's ceiling of %d requests a second per workspace", p, d.Delivery.RequestsPerSecond, DefaultRequestsPerSec)
			}
			if d.Segment != nil && !strings.HasPrefix(d.Segment.Endpoint, "http://") && !strings.HasPrefix(d.Segment.Endpoint, "https://") {
				add("%s.segment.endpoint: %q is not an http(s) URL", p, maskURL(d.Segment.Endpoint)) // the URL may carry credentials
			}
		case "warehouse":
			w := d.Warehouse
			switch {
			case w == nil:
				add("%s.warehouse: missing", p)
			case w.Driver != "sqlite" && w.Driver != "postgres":
				add("%s.warehouse.driver: %q is not sqlite or postgres", p, w.Driver)
			case w.Driver == "postgres" && w.DSN == "":
				add("%s.warehouse.dsn: missing (BRIDGE_WAREHOUSE_DSN), e.g. postgres://user@host:5432/db", p)
			case w.Driver == "sqlite" && c.Log.NATSURL != "":
				add("%s.warehouse.driver: sqlite writes a file of this process, but on an external log (log.nats_url, BRIDGE_NATS_URL) every bridge process shares the destination's consumer, so each file would hold only the events its own process delivered; use a postgres warehouse that every process writes to (driver: postgres, or BRIDGE_WAREHOUSE=postgres and BRIDGE_WAREHOUSE_DSN), or turn it off (BRIDGE_WAREHOUSE=off; a warehouse that ran before keeps its position in the log until removed: log.remove_stale_destinations, BRIDGE_REMOVE_STALE_DESTINATIONS=true)", p)
			}
			if w != nil && w.MaxLag != nil && (!w.MaxLag.Valid() || *w.MaxLag < 0) {
				add("%s.warehouse.max_lag: not a duration of 0 or more (such as 5m or 1h; 0 loads beside streaming destinations at full speed)", p)
			}
			if w != nil && w.MaxStringLength < 0 {
				add("%s.warehouse.max_string_length: %d is negative (0 keeps strings whole; 512 truncates as Segment's warehouses do)", p, w.MaxStringLength)
			}
			if w != nil && !schemaName.MatchString(w.Schema) {
				add("%s.warehouse.schema: %q must be a lower-case slug ([a-z_][a-z0-9_]*, at most 63 bytes)", p, w.Schema)
			}
			if w != nil {
				key := [3]string{w.Driver, w.DSN, w.Schema}
				if first, ok := tables[key]; ok {
					add("%s.warehouse.schema: destinations %q and %q both load schema %q of the same %s database: their loaders would race on the same tables; give one another schema or database", p, first, d.Name, w.Schema, w.Driver)
				} else {
					tables[key] = d.Name
				}
			}
		case "webhook":
			if d.Webhook == nil || (!strings.HasPrefix(d.Webhook.URL, "http://") && !strings.HasPrefix(d.Webhook.URL, "https://")) {
				add("%s.webhook.url: missing or not an http(s) URL (WEBHOOK_URL)", p)
			}
		case "statsig":
			st := d.Statsig
			if st == nil || st.ServerSecret == "" {
				add("%s.statsig.server_secret: missing (STATSIG_SERVER_SECRET)", p)
			}
			if st != nil && !strings.HasPrefix(st.API, "http://") && !strings.HasPrefix(st.API, "https://") {
				add("%s.statsig.api: %q is not an http(s) URL", p, maskURL(st.API))
			}
			// The tee forwards events as the SDKs sent them: Statsig has no
			// identify call, and dedupes exposures itself.
			if d.Mapping.Identify != "" && d.Mapping.Identify != mappingconfig.IdentifyOff {
				add("%s.mapping.identify: a statsig destination forwards the SDKs' events to Statsig, which has no identify call; use identify on a segment, webhook or warehouse destination", p)
			}
			if d.Mapping.DedupeExposures != 0 {
				add("%s.mapping.dedupe_exposures: a statsig destination forwards every exposure as the SDKs sent it (Statsig deduplicates them itself); use dedupe_exposures on a segment, webhook or warehouse destination", p)
			}
		case "":
			add("%s.type: missing (segment, warehouse, webhook or statsig)", p)
		default:
			add("%s.type: unknown destination type %q (segment, warehouse, webhook or statsig)", p, d.Type)
		}
		for _, e := range d.Mapping.Validate() {
			add("%s.mapping.%s", p, e)
		}
		if d.Delivery.MaxBatchEvents > delivery.DefaultMaxBatchEvents {
			add("%s.delivery.max_batch_events: %d is over Segment's %d", p, d.Delivery.MaxBatchEvents, delivery.DefaultMaxBatchEvents)
		}
		if d.Delivery.Concurrency > 256 {
			add("%s.delivery.concurrency: %d is more than 256", p, d.Delivery.Concurrency)
		}
	}
	return errs
}

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

func validName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// segmentHosted reports whether endpoint is Segment's own API (US or EU),
// whose workspace ceiling applies; "" is the default, Segment's.
func segmentHosted(endpoint string) bool {
	if endpoint == "" {
		return true
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	h := strings.ToLower(u.Hostname())
	for _, domain := range []string{"segment.io", "segmentapis.com", "segment.com"} {
		if h == domain || strings.HasSuffix(h, "."+domain) {
			return true
		}
	}
	return false
}
