package config_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/config"
)

// env is a fake environment.
type env map[string]string

func (e env) get(k string) string { return e[k] }

// load writes yaml to a temp file and loads it with e as the environment.
func load(t *testing.T, yaml string, e env) (*config.Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bridge.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return config.Load(path, e.get)
}

func TestLoadRejectsUnknownKeys(t *testing.T) {
	cases := []struct{ name, yaml, key string }{
		{"top level", "listen: 127.0.0.1:8080\nlisten_addr: 0.0.0.0:80\n", "listen_addr"},
		{"intake", "intake:\n  api_key: abc\n", "api_key"},
		{"destination", "destinations:\n  - name: s\n    type: segment\n    segment:\n      writekey: abc\n", "writekey"},
		{"mapping", "destinations:\n  - name: s\n    segment: {write_key: k}\n    mapping:\n      user_ids: [userID]\n", "user_ids"},
		{"retry", "destinations:\n  - name: s\n    segment: {write_key: k}\n    delivery:\n      retry: {attempts: 3}\n", "attempts"},
	}
	for _, c := range cases {
		_, err := load(t, c.yaml, env{})
		if err == nil || !strings.Contains(err.Error(), c.key) {
			t.Errorf("%s: unknown key %q: got %v, want an error naming it", c.name, c.key, err)
		}
	}
}

func TestLoadExpandsEnvironment(t *testing.T) {
	yaml := `
listen: ${LISTEN}
data_dir: ${DATA_DIR:-/var/lib/bridge}
log_level: ${LEVEL:-warn}
intake:
  api_keys: ["${KEY_A}", "${KEY_B:-}"]
  webhook_secret: ${HOOK}
specs:
  server_secret: ${SERVER_SECRET:-}
destinations:
  - name: segment
    segment:
      write_key: ${WRITE_KEY}
      endpoint: ${SEGMENT_ENDPOINT:-https://events.eu1.segmentapis.com}
`
	cfg, err := load(t, yaml, env{
		"LISTEN": "127.0.0.1:9090", "LEVEL": "debug", "KEY_A": "key-a",
		"HOOK": "hook-secret", "WRITE_KEY": "wk",
	})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ field, got, want string }{
		{"listen (${VAR})", cfg.Listen, "127.0.0.1:9090"},
		{"data_dir (default used)", cfg.DataDir, "/var/lib/bridge"},
		{"log_level (set wins over default)", cfg.LogLevel, "debug"},
		{"webhook_secret", cfg.Intake.WebhookSecret, "hook-secret"},
		{"server_secret (empty default)", cfg.Specs.ServerSecret, ""},
		{"write_key", cfg.Destinations[0].Segment.WriteKey, "wk"},
		{"endpoint (default with a colon)", cfg.Destinations[0].Segment.Endpoint, "https://events.eu1.segmentapis.com"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
		}
	}
	if !slices.Contains(cfg.Intake.APIKeys, "key-a") {
		t.Errorf("api_keys %q, want key-a", cfg.Intake.APIKeys)
	}
	if p := cfg.Validate(); len(p) != 0 {
		t.Errorf("valid config: Validate says %q", p)
	}
}

func TestLoadNamesMissingVariables(t *testing.T) {
	_, err := load(t, "listen: ${LISTEN}\nintake:\n  webhook_secret: ${HOOK}\n  api_keys: [\"${KEYS:-}\"]\n", env{"LISTEN": "127.0.0.1:1"})
	if err == nil {
		t.Fatal("a missing ${HOOK} loaded without error")
	}
	if !strings.Contains(err.Error(), "HOOK") || strings.Contains(err.Error(), "LISTEN") || strings.Contains(err.Error(), "KEYS") {
		t.Errorf("error %q: want it to name HOOK only (LISTEN is set, KEYS has a default)", err)
	}
	_, err = load(t, "listen: ${A}\ndata_dir: ${B}\n", env{})
	if err == nil || !strings.Contains(err.Error(), "A") || !strings.Contains(err.Error(), "B") {
		t.Errorf("two missing variables: %v, want both named", err)
	}
}

// TestLoadKeepsSecretValuesVerbatim: a value from the environment is data,
// not YAML: a secret with '#', ': ' or quotes arrives whole.
func TestLoadKeepsSecretValuesVerbatim(t *testing.T) {
	for _, secret := range []string{"abc #def", "a: b", `q"uote`, "x'y", "- dash", "{brace}", "[list]", "*star", "&amp", "!bang", "%pct", "@at", "`tick`", "yes", "123"} {
		cfg, err := load(t, "intake:\n  webhook_secret: ${HOOK}\n", env{"HOOK": secret})
		if err != nil {
			t.Errorf("secret %q: %v", secret, err)
			continue
		}
		if cfg.Intake.WebhookSecret != secret {
			t.Errorf("secret %q loaded as %q", secret, cfg.Intake.WebhookSecret)
		}
	}
}

// TestLoadTypesExpandedValues: a plain ${VAR} takes the type its value
// reads as, so numbers, booleans and durations can come from the
// environment.
func TestLoadTypesExpandedValues(t *testing.T) {
	yaml := "intake:\n  max_body_bytes: ${MAX}\n  max_events: ${EVENTS:-500}\nlog:\n  ack_wait: ${ACK}\n  sync_always: ${SYNC}\n"
	cfg, err := load(t, yaml, env{"MAX": "1024", "ACK": "45s", "SYNC": "true"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Intake.MaxBodyBytes != 1024 || cfg.Intake.MaxEvents != 500 || cfg.Log.AckWait != 45*time.Second || !cfg.Log.SyncAlways {
		t.Errorf("got max_body_bytes %d, max_events %d, ack_wait %s, sync_always %v; want 1024, 500, 45s, true",
			cfg.Intake.MaxBodyBytes, cfg.Intake.MaxEvents, cfg.Log.AckWait, cfg.Log.SyncAlways)
	}
	if _, err := load(t, "intake:\n  max_body_bytes: ${MAX}\n", env{"MAX": "ten"}); err == nil || !strings.Contains(err.Error(), "ten") {
		t.Errorf("max_body_bytes from MAX=ten: %v, want an error showing the value", err)
	}
	// Unknown keys are found with the file's own line numbers.
	_, err = load(t, "listen: ${L:-127.0.0.1:1}\n\n\n# comment\nintake:\n\n  max_body_bytes: ${MAX:-1}\n  bogus_key: 1\n", env{})
	if err == nil || !strings.Contains(err.Error(), "bogus_key") || !strings.Contains(err.Error(), "line 8") {
		t.Errorf("unknown key on line 8: %v, want an error naming it and its line", err)
	}
}

// TestLoadIgnoresVariablesInComments: a commented-out line does not need
// its variables set.
func TestLoadIgnoresVariablesInComments(t *testing.T) {
	cfg, err := load(t, "listen: 127.0.0.1:8080\n# webhook_secret: ${OLD_HOOK}\n", env{})
	if err != nil {
		t.Fatalf("a ${VAR} in a comment: %v", err)
	}
	if cfg.Listen != "127.0.0.1:8080" {
		t.Errorf("listen %q", cfg.Listen)
	}
}

func TestLoadAppliesDefaults(t *testing.T) {
	cfg, err := load(t, "destinations:\n  - name: s\n    segment: {write_key: k}\n", env{})
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Destinations[0]
	if cfg.Listen != config.DefaultListen || cfg.DataDir != config.DefaultDataDir || d.Type != "segment" ||
		d.Segment.Endpoint != config.DefaultSegmentEndpoint || d.Delivery.FlushInterval != config.DefaultFlushInterval ||
		cfg.Log.AckWait != config.DefaultAckWait || cfg.Intake.WebhookTolerance != 5*time.Minute {
		t.Errorf("defaults not applied: %+v", cfg)
	}
	if _, err := load(t, "", env{}); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty file: %v, want an error saying it is empty", err)
	}
}

func TestValidateListsEveryProblem(t *testing.T) {
	yaml := `
listen: nohostport
log_level: loud
memory_limit: 1000000
log:
  replicas: 3
destinations:
  - name: "bad name"
    type: segment
    segment: {endpoint: "ftp://x"}
  - name: dup
    type: kafka
  - name: dup
    segment: {write_key: k}
    mapping:
      types: [gate_exposure, nonsense]
      user_id: [userID, phone]
      email: shout
    delivery:
      max_batch_events: 5000
      concurrency: 1000
`
	cfg, err := load(t, yaml, env{})
	if err != nil {
		t.Fatal(err)
	}
	problems := cfg.Validate()
	want := []string{
		"listen:",
		"log_level:",
		"memory_limit:",
		"log.replicas:",
		"destinations[0].name:",
		"destinations[0].segment.write_key:",
		"destinations[0].segment.endpoint:",
		"destinations[1].type:",
		"destinations[2].name:",
		"destinations[2].mapping.types:",
		"destinations[2].mapping.user_id:",
		"destinations[2].mapping.email:",
		"destinations[2].delivery.max_batch_events:",
		"destinations[2].delivery.concurrency:",
	}
	for _, w := range want {
		found := false
		for _, p := range problems {
			if strings.HasPrefix(p, w) {
				found = true
			}
		}
		if !found {
			t.Errorf("no problem reported for %s; got:\n  %s", w, strings.Join(problems, "\n  "))
		}
	}
	if len(problems) < len(want) {
		t.Errorf("%d problems reported, want at least %d", len(problems), len(want))
	}
	for _, p := range problems {
		if !strings.Contains(p, ": ") {
			t.Errorf("problem %q is not \"path: reason\"", p)
		}
	}
}

func TestMaskedHidesEverySecret(t *testing.T) {
	yaml := `
intake:
  api_keys: [sdk-key-aaaaaaaaaaaaaaaa, short-key]
  webhook_secret: webhook-secret-bbbbbbbbbbbb
specs:
  server_secret: secret-cccccccccccccccccccc
ui:
  token: ui-token-jjjjjjjjjjjj
  basic_auth: admin:ui-password-kkkk
log:
  nats_url: nats://bridge:nats-password-dddd@nats1.internal:4222,nats://bridge:nats-password-hhhh@nats2.internal:4222,nats://nats-token-iiii@nats3.internal:4222
destinations:
  - name: us
    segment:
      write_key: write-key-eeeeeeeeeeeeeeee
      endpoint: https://user:endpoint-password-ffff@proxy.example.com/v1?token=endpoint-token-gggg
  - name: eu
    segment:
      write_key: wk2
      endpoint: https://events.eu1.segmentapis.com
`
	cfg, err := load(t, yaml, env{})
	if err != nil {
		t.Fatal(err)
	}
	secrets := cfg.Secrets()
	want := []string{"sdk-key-aaaaaaaaaaaaaaaa", "short-key", "webhook-secret-bbbbbbbbbbbb",
		"secret-cccccccccccccccccccc", "write-key-eeeeeeeeeeeeeeee", "wk2",
		// credentials inside URLs, each URL of a cluster list
		"nats-password-dddd", "nats-password-hhhh", "nats-token-iiii", "endpoint-password-ffff", "endpoint-token-gggg",
		"ui-token-jjjjjjjjjjjj", "admin:ui-password-kkkk"}
	for _, w := range want {
		if !slices.Contains(secrets, w) {
			t.Errorf("Secrets() %q lacks %q", secrets, w)
		}
	}
	out, err := cfg.Masked().YAML()
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("masked config shows the secret %q:\n%s", s, text)
		}
	}
	// Masking keeps what an operator needs to tell things apart.
	for _, keep := range []string{"****@nats1.internal:4222", "****@nats2.internal:4222", "nats3.internal:4222", "proxy.example.com", "events.eu1.segmentapis.com", "aaaa"} {
		if !strings.Contains(text, keep) {
			t.Errorf("masked config lost %q:\n%s", keep, text)
		}
	}
	// Masked is a copy: the original keeps its secrets.
	if cfg.Destinations[0].Segment.WriteKey != "write-key-eeeeeeeeeeeeeeee" || cfg.Intake.APIKeys[0] != "sdk-key-aaaaaaaaaaaaaaaa" {
		t.Error("Masked changed the original config")
	}
}

func TestFromEnv(t *testing.T) {
	cfg, err := config.FromEnv(env{
		"BRIDGE_LISTEN": "127.0.0.1:7000", "STATSIG_API_KEYS": " k1, k2 ,,", "SEGMENT_WRITE_KEY": "wk",
		"SEGMENT_ENDPOINT": "http://127.0.0.1:9", "STATSIG_EXPERIMENTS": "exp_*", "BRIDGE_WAREHOUSE": "off",
		"BRIDGE_UI_TOKEN": "ui-token",
	}.get)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.UI.Token != "ui-token" || !cfg.UI.On() {
		t.Errorf("ui from env: %+v", cfg.UI)
	}
	if !slices.Equal(cfg.Intake.APIKeys, []string{"k1", "k2"}) || len(cfg.Destinations) != 1 ||
		cfg.Destinations[0].Segment.WriteKey != "wk" || !slices.Equal(cfg.Destinations[0].Mapping.Experiments, []string{"exp_*"}) {
		t.Errorf("from env: %+v", cfg)
	}
	if p := cfg.Validate(); len(p) != 0 {
		t.Errorf("Validate: %q", p)
	}
	for k, v := range map[string]string{"BRIDGE_MAX_BODY_BYTES": "10MB", "BRIDGE_LOG_MAX_BYTES": "-1", "BRIDGE_ACK_WAIT": "30", "BRIDGE_MEMORY_LIMIT": "256MiB"} {
		if _, err := config.FromEnv(env{k: v}.get); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%q: %v, want an error naming %s", k, v, err, k)
		}
	}
	// No configuration at all: the embedded SQLite warehouse in the data dir.
	cfg, err = config.FromEnv(env{}.get)
	if err != nil || len(cfg.Destinations) != 1 || cfg.Listen != config.DefaultListen {
		t.Fatalf("empty env: %v %+v, want defaults and the SQLite warehouse", err, cfg)
	}
	if w := cfg.Destinations[0].Warehouse; cfg.Destinations[0].Type != "warehouse" || w == nil || w.Driver != "sqlite" ||
		w.Schema != "statsig" || w.DSN != filepath.Join(cfg.DataDir, "warehouse", "statsig.db") {
		t.Errorf("empty env: destination %+v %+v, want the SQLite warehouse in data_dir/warehouse/statsig.db", cfg.Destinations[0], w)
	}
	for _, off := range []string{"off", "none"} {
		if cfg, err := config.FromEnv(env{"BRIDGE_WAREHOUSE": off}.get); err != nil || len(cfg.Destinations) != 0 {
			t.Errorf("BRIDGE_WAREHOUSE=%s: %v %+v, want no destination", off, err, cfg)
		}
	}
}
