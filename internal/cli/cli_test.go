package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/statsig-bridge/statsig-bridge/internal/cli"
)

var fixtures = filepath.Join("..", "..", "testdata", "fixtures")

// result is one run of the command line.
type result struct {
	Code           int
	Stdout, Stderr string
}

// run runs the command line with vars as the whole environment and stdin.
func run(t *testing.T, vars map[string]string, stdin []byte, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Main(context.Background(), args, &cli.Env{
		Stdin:  bytes.NewReader(stdin),
		Stdout: &stdout,
		Stderr: &stderr,
		Getenv: func(k string) string { return vars[k] },
	})
	return result{Code: code, Stdout: stdout.String(), Stderr: stderr.String()}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// secretEnv configures every secret the bridge has.
var secretEnv = map[string]string{
	"STATSIG_API_KEYS":       "secret-sdk-key-1111111111,client-sdk-key-2222222222",
	"STATSIG_WEBHOOK_SECRET": "webhook-secret-3333333333",
	"STATSIG_SERVER_SECRET":  "secret-server-4444444444",
	"SEGMENT_WRITE_KEY":      "segment-write-key-5555555555",
	"SEGMENT_ENDPOINT":       "https://proxy.example.com/v1?token=endpoint-token-6666",
	"BRIDGE_NATS_URL":        "nats://bridge:nats-pass-7777@n1:4222,nats://bridge:nats-pass-8888@n2:4222",
	"BRIDGE_WAREHOUSE":       "off", // the SQLite default is refused on an external log
}

var secretValues = []string{
	"secret-sdk-key-1111111111", "client-sdk-key-2222222222", "webhook-secret-3333333333",
	"secret-server-4444444444", "segment-write-key-5555555555", "endpoint-token-6666",
	"nats-pass-7777", "nats-pass-8888",
}

func assertNoSecrets(t *testing.T, r result, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(r.Stdout, s) || strings.Contains(r.Stderr, s) {
			t.Errorf("output shows the secret %q:\nstdout:\n%s\nstderr:\n%s", s, r.Stdout, r.Stderr)
		}
	}
}

func TestValidatePrintsMaskedConfig(t *testing.T) {
	t.Run("environment", func(t *testing.T) {
		r := run(t, secretEnv, nil, "validate")
		if r.Code != cli.ExitOK {
			t.Fatalf("exit %d, stderr:\n%s", r.Code, r.Stderr)
		}
		for _, want := range []string{"configuration is valid", "write_key:", "****", "proxy.example.com", "n2:4222", "destinations:"} {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, r.Stdout)
			}
		}
		assertNoSecrets(t, r, secretValues)
	})
	t.Run("file", func(t *testing.T) {
		path := writeFile(t, "bridge.yaml", `
intake:
  api_keys: ["${KEY}", "literal-key-in-file-9999"]
  webhook_secret: "${HOOK}"
destinations:
  - name: eu
    segment:
      write_key: ${WK}
      endpoint: https://events.eu1.segmentapis.com
`)
		vars := map[string]string{"KEY": "file-sdk-key-aaaaaaaaaa", "HOOK": "hook # with: yaml chars", "WK": "file-write-key-bbbbbbbb"}
		r := run(t, vars, nil, "validate", "--config", path)
		if r.Code != cli.ExitOK {
			t.Fatalf("exit %d, stderr:\n%s", r.Code, r.Stderr)
		}
		if !strings.Contains(r.Stdout, "name: eu") {
			t.Errorf("stdout lacks the destination:\n%s", r.Stdout)
		}
		assertNoSecrets(t, r, []string{"file-sdk-key-aaaaaaaaaa", "literal-key-in-file-9999", "hook # with", "file-write-key-bbbbbbbb"})
	})
	t.Run("invalid config names problems without secrets", func(t *testing.T) {
		path := writeFile(t, "bridge.yaml", `
listen: nohostport
intake:
  api_keys: [key-in-bad-config-cccccccc]
destinations:
  - name: s
    segment:
      write_key: bad-config-write-key-dddd
      endpoint: ftp://user:endpoint-pass-eeee@proxy.example.com
`)
		r := run(t, nil, nil, "validate", "--config", path)
		if r.Code != cli.ExitConfig {
			t.Fatalf("exit %d, want %d (config); stderr:\n%s", r.Code, cli.ExitConfig, r.Stderr)
		}
		for _, want := range []string{"listen:", "destinations[0].segment.endpoint:"} {
			if !strings.Contains(r.Stderr, want) {
				t.Errorf("stderr does not name %s:\n%s", want, r.Stderr)
			}
		}
		if r.Stdout != "" {
			t.Errorf("an invalid config printed to stdout:\n%s", r.Stdout)
		}
		assertNoSecrets(t, r, []string{"key-in-bad-config-cccccccc", "bad-config-write-key-dddd", "endpoint-pass-eeee"})
	})
}

// previewLine is one line of preview output.
type previewLine struct {
	Destination string         `json:"destination"`
	Status      string         `json:"status"`
	Reason      string         `json:"reason"`
	Note        string         `json:"note"`
	Input       string         `json:"input"`
	Message     map[string]any `json:"message"`
}

func previewLines(t *testing.T, r result) []previewLine {
	t.Helper()
	if r.Code != cli.ExitOK {
		t.Fatalf("preview exit %d, stderr:\n%s", r.Code, r.Stderr)
	}
	var out []previewLine
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		var l previewLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("preview line is not JSON: %v: %q", err, line)
		}
		out = append(out, l)
	}
	return out
}

func TestPreviewSDKRequestWithSpecs(t *testing.T) {
	body := filepath.Join(fixtures, "go-sdk", "log_event-1.body")
	raw, err := os.ReadFile(body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(raw, []byte{0x1f, 0x8b}) {
		t.Fatal("the fixture body should be gzip")
	}
	specs := filepath.Join(fixtures, "go-sdk", "download_config_specs.json")
	lines := previewLines(t, run(t, nil, nil, "preview", "--specs", specs, body))
	if len(lines) != 32 {
		t.Fatalf("%d lines, want one per event (32)", len(lines))
	}
	var experiments, configs, gates, custom int
	for i, l := range lines {
		// With no config, preview shows the destination serve would run:
		// the default SQLite warehouse.
		if l.Destination != "warehouse" || l.Input == "" {
			t.Errorf("line %d: %+v, want destination warehouse and the input event name", i, l)
		}
		if l.Status != "send" {
			t.Errorf("line %d (%s): status %q (%s), want send", i, l.Input, l.Status, l.Reason)
			continue
		}
		if l.Message["type"] != "track" || l.Message["messageId"] == "" {
			t.Errorf("line %d: message %v is not a Track call with a messageId", i, l.Message)
		}
		if l.Message["userId"] == nil && l.Message["anonymousId"] == nil {
			t.Errorf("line %d: message without userId or anonymousId", i)
		}
		md, _ := l.Message["properties"].(map[string]any)["metadata"].(map[string]any)
		switch l.Message["event"] {
		case "statsig::experiment_exposure":
			experiments++
			if l.Input != "statsig::config_exposure" || md["config"] != "sdk_button_experiment" {
				t.Errorf("line %d: experiment exposure from %s of %v", i, l.Input, md["config"])
			}
			if g := md["experimentGroupName"]; g != "Control" && g != "Test" {
				t.Errorf("line %d: experimentGroupName %v, want Control or Test from the specs", i, g)
			}
		case "statsig::config_exposure":
			configs++
			if md["config"] != "sdk_pricing_config" {
				t.Errorf("line %d: config exposure of %v, want sdk_pricing_config only", i, md["config"])
			}
		case "statsig::gate_exposure":
			gates++
		default:
			custom++
		}
	}
	t.Logf("experiments %d, configs %d, gates %d, custom %d", experiments, configs, gates, custom)
	if experiments == 0 || configs == 0 || gates == 0 || custom == 0 {
		t.Errorf("want every kind in the fixture: experiments %d, configs %d, gates %d, custom %d", experiments, configs, gates, custom)
	}

	// Without specs, the experiment cannot be told from a config: it stays a
	// config exposure with a note saying so.
	noted := 0
	for _, l := range previewLines(t, run(t, nil, nil, "preview", body)) {
		if l.Message["event"] == "statsig::experiment_exposure" {
			t.Errorf("an experiment was resolved without specs: %+v", l)
		}
		if l.Note != "" {
			noted++
		}
	}
	if noted == 0 {
		t.Error("no line notes that experiments cannot be resolved without specs")
	}
}

func TestPreviewWebhookBatches(t *testing.T) {
	for _, name := range []string{"batch-1", "batch-2"} {
		path := filepath.Join(fixtures, "webhook", name+".body")
		lines := previewLines(t, run(t, nil, nil, "preview", path))
		if len(lines) != 6 {
			t.Errorf("%s: %d lines, want 6", name, len(lines))
		}
		for i, l := range lines {
			id, _ := l.Message["messageId"].(string)
			if l.Status != "send" || !strings.Contains(id, "-11ec-") {
				t.Errorf("%s line %d: status %q messageId %q, want send with the event's timeUUID", name, i, l.Status, id)
			}
		}
	}
	// stdin, and a config with two destinations mapping differently.
	cfg := writeFile(t, "bridge.yaml", `
destinations:
  - name: everything
    segment: {write_key: k1}
  - name: gates-only
    segment: {write_key: k2}
    mapping:
      types: [gate_exposure]
`)
	stdin, err := os.ReadFile(filepath.Join(fixtures, "webhook", "batch-1.body"))
	if err != nil {
		t.Fatal(err)
	}
	lines := previewLines(t, run(t, nil, stdin, "preview", "--config", cfg, "-"))
	if len(lines) != 12 {
		t.Fatalf("%d lines, want 6 events × 2 destinations", len(lines))
	}
	for _, l := range lines {
		want := "send"
		if l.Destination == "gates-only" && l.Input != "statsig::gate_exposure" {
			want = "filtered"
		}
		if l.Status != want {
			t.Errorf("%s / %s: status %q, want %q", l.Destination, l.Input, l.Status, want)
		}
	}
}

func TestPreviewShowsDeadLetters(t *testing.T) {
	lines := previewLines(t, run(t, nil, []byte(`{"eventName":"no_one","metadata":{"a":"b"}}`), "preview"))
	if len(lines) != 1 || lines[0].Status != "dead_letter" || !strings.Contains(lines[0].Reason, "no_user_anon_id") {
		t.Errorf("event without identity: %+v, want status dead_letter, reason no_user_anon_id", lines)
	}
}

func TestExitCodes(t *testing.T) {
	badKey := writeFile(t, "bad.yaml", "listen: 127.0.0.1:8080\nlisten_port: 9\n")
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want int
		says string
	}{
		{"no command", nil, nil, cli.ExitUsage, "commands:"},
		{"unknown command", nil, []string{"frobnicate"}, cli.ExitUsage, "frobnicate"},
		{"unknown flag", nil, []string{"validate", "--bogus"}, cli.ExitUsage, "bogus"},
		{"preview of two files", nil, []string{"preview", "a", "b"}, cli.ExitUsage, "one file"},
		{"bad --received-at", nil, []string{"preview", "--received-at", "yesterday", "-"}, cli.ExitUsage, "received-at"},
		{"unknown config key", nil, []string{"validate", "--config", badKey}, cli.ExitConfig, "listen_port"},
		{"config file missing", nil, []string{"validate", "--config", filepath.Join(t.TempDir(), "none.yaml")}, cli.ExitConfig, "none.yaml"},
		{"invalid environment", map[string]string{"BRIDGE_LISTEN": "nohostport"}, []string{"validate"}, cli.ExitConfig, "listen"},
		{"bad env number", map[string]string{"BRIDGE_MAX_BODY_BYTES": "lots"}, []string{"preview", "-"}, cli.ExitConfig, "BRIDGE_MAX_BODY_BYTES"},
		{"serve refuses an open listener without keys", map[string]string{"BRIDGE_LISTEN": "0.0.0.0:0"}, []string{"serve"}, cli.ExitError, "STATSIG_API_KEYS"},
		{"preview input missing", nil, []string{"preview", filepath.Join(t.TempDir(), "none.json")}, cli.ExitError, "none.json"},
		{"preview input not events", nil, []string{"preview", "--received-at", "1795534352070", writeFile(t, "x.json", `{"hello":1}`)}, cli.ExitError, "not a Statsig"},
		{"help", nil, []string{"--help"}, cli.ExitOK, "commands:"},
		{"version", nil, []string{"version"}, cli.ExitOK, "statsig-bridge"},
	}
	for _, c := range cases {
		r := run(t, c.env, nil, c.args...)
		if r.Code != c.want {
			t.Errorf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", c.name, r.Code, c.want, r.Stdout, r.Stderr)
			continue
		}
		if !strings.Contains(r.Stdout+r.Stderr, c.says) {
			t.Errorf("%s: output does not say %q:\nstdout: %s\nstderr: %s", c.name, c.says, r.Stdout, r.Stderr)
		}
	}
}

// TestPreviewNeedsADestination: with no destination at all (the warehouse
// turned off and no write key), preview says so instead of previewing a
// destination that serve would not run.
func TestPreviewNeedsADestination(t *testing.T) {
	r := run(t, map[string]string{"BRIDGE_WAREHOUSE": "off"}, []byte(`{"eventName":"e","user":{"userID":"u"}}`), "preview")
	if r.Code != cli.ExitConfig || !strings.Contains(r.Stderr, "no destination is configured") {
		t.Errorf("exit %d, stderr %q; want the configuration exit naming the missing destination", r.Code, r.Stderr)
	}
}
