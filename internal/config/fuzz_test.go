package config_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/statsig-bridge/statsig-bridge/internal/config"
)

// fuzzEnv reads a fuzzed environment: NAME=value lines.
func fuzzEnv(s string) env {
	e := env{}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			e[k] = v
		}
	}
	return e
}

// configSeeds are the configuration files the project ships: the README's
// full example and the cluster deployment.
func configSeeds(t testing.TB) []string {
	t.Helper()
	var out []string
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(readme, -1) {
		out = append(out, string(m[1]))
	}
	cluster, err := os.ReadFile(filepath.Join("..", "..", "deploy", "cluster", "bridge.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return append(out, string(cluster))
}

const seedEnv = "STATSIG_SERVER_SECRET=secret-abcdefghijklmnop\nSEGMENT_WRITE_KEY=wk-0123456789abcdef\n" +
	"NATS_BRIDGE_PASSWORD=nats-pass-123456\nBRIDGE_WAREHOUSE_DSN=postgres://u:pg-pass-123456@db:5432/x?password=q2&sslmode=disable\n" +
	"WEBHOOK_URL=https://h/x?token=tok-0123456789\nBRIDGE_UI_TOKEN=ui-token-0123456789"

// FuzzLoad loads a fuzzed configuration file with a fuzzed environment.
// Load either errs or returns a configuration that Validate, Masked and
// YAML handle; and the masked configuration holds none of the original's
// secrets (each secret field, URL credential and DSN password is masked).
func FuzzLoad(f *testing.F) {
	for _, s := range configSeeds(f) {
		f.Add(s, seedEnv)
		f.Add(s, "")
	}
	f.Add("intake:\n  webhook_secret: ${S}\n  api_keys: [\"${K}\", '${K}']\nlog:\n  max_bytes: ${N:-12}\n", "S=a: b # c\nK=null\nN=~")
	f.Add("destinations:\n  - name: w\n    warehouse: {driver: postgres, dsn: \"host=db password=${P} user=u\"}\n", "P=s3cr3t-pw")
	f.Add("destinations:\n  - webhook: {url: 'http://u:${P}@h/?api_key=${P}', headers: {Authorization: Bearer ${P}}}\n", "P=s3cr3t-pw")
	f.Fuzz(func(t *testing.T, yaml, envText string) {
		path := filepath.Join(t.TempDir(), "bridge.yaml")
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(path, fuzzEnv(envText).get)
		if err != nil {
			if c != nil {
				t.Fatalf("error %v with a configuration", err)
			}
			if !strings.Contains(err.Error(), path) && !strings.HasPrefix(err.Error(), "reading config") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, p := range c.Validate() {
			if !strings.Contains(p, ": ") {
				t.Fatalf("problem %q is not path: reason", p)
			}
		}
		m := c.Masked()
		if _, err := m.YAML(); err != nil {
			t.Fatalf("masked YAML: %v", err)
		}
		secrets := c.Secrets()
		for _, s := range m.Secrets() {
			if len(s) >= 5 && slices.Contains(secrets, s) {
				t.Fatalf("secret %q survives masking", s)
			}
		}
	})
}

// FuzzLoadEnvValue: a value from the environment arrives whole in a
// string setting, whatever it holds (YAML syntax, quotes, "null", "~",
// numbers, spaces), in a plain, a quoted and a list scalar alike.
func FuzzLoadEnvValue(f *testing.F) {
	for _, v := range []string{"plain", "a: b # c", `"quoted'`, "null", "~", "123", "true", " x ", "${Y}", "[1]", "{a: 1}", "- x", "|"} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if v == "" || strings.ContainsAny(v, "\x00") {
			return // empty is "not set"; NUL is no environment value
		}
		yaml := "log_level: debug\nintake:\n  webhook_secret: ${V}\n  api_keys:\n    - \"${V}\"\n    - '${V}'\n    - ${V}\nspecs:\n  server_secret: \"${V}\"\n"
		c, err := load(t, yaml, env{"V": v})
		if err != nil {
			t.Fatalf("value %q: %v", v, err)
		}
		if c.Intake.WebhookSecret != v || c.Specs.ServerSecret != v || !slices.Equal(c.Intake.APIKeys, []string{v, v, v}) {
			t.Fatalf("value %q arrived as webhook_secret %q, server_secret %q, api_keys %q", v, c.Intake.WebhookSecret, c.Specs.ServerSecret, c.Intake.APIKeys)
		}
	})
}

// FuzzMaskURL masks fuzzed URLs, comma-separated URL lists and key=value
// DSNs in every field that holds one: no credential of the original
// (Secrets) survives in the masked field, nor among the masked
// configuration's secrets.
func FuzzMaskURL(f *testing.F) {
	for _, s := range []string{
		"nats://bridge:nats-pass-123456@nats-1:4222,nats://bridge:nats-pass-123456@nats-2:4222",
		"postgres://u:pg-pass-123456@db:5432/x?password=q2-secret&sslmode=disable",
		"host=db user=u password=pw-0123456789 dbname=x",
		"https://h/x?token=tok-0123456789&api_key=k-0123456789&x=1",
		"nats://tokenonly-0123456789@h:4222",
		"http://[::1]:8080/%zz?secret=s-0123456789",
		"https://user@h/?Password=p-0123456789#frag",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, u string) {
		// One configuration per field, so Secrets are that field's.
		fields := []struct {
			c      *config.Config
			masked func(m *config.Config) string
			dsn    bool // key=value passwords are a DSN's only
		}{
			{&config.Config{Log: config.Log{NATSURL: u}}, func(m *config.Config) string { return m.Log.NATSURL }, false},
			{&config.Config{Destinations: []config.Destination{{Warehouse: &config.Warehouse{DSN: u}}}},
				func(m *config.Config) string { return m.Destinations[0].Warehouse.DSN }, true},
			{&config.Config{Destinations: []config.Destination{{Webhook: &config.Webhook{URL: u}}}},
				func(m *config.Config) string { return m.Destinations[0].Webhook.URL }, false},
			{&config.Config{Destinations: []config.Destination{{Segment: &config.Segment{Endpoint: u}}}},
				func(m *config.Config) string { return m.Destinations[0].Segment.Endpoint }, false},
			{&config.Config{Destinations: []config.Destination{{Statsig: &config.StatsigTee{API: u}}}},
				func(m *config.Config) string { return m.Destinations[0].Statsig.API }, false},
		}
		for _, fd := range fields {
			m := fd.c.Masked()
			// An escape the masking writes (%00) is no part of a secret.
			v := percentEscape.ReplaceAllString(fd.masked(m), "\x01")
			for _, s := range fd.c.Secrets() {
				if len(s) < 5 || strings.Count(u, s) != 1 {
					continue // a short secret, or one also in the host or path, may show
				}
				if !fd.dsn && slices.ContainsFunc(strings.Fields(u), func(kv string) bool {
					k, v, _ := strings.Cut(kv, "=")
					return strings.EqualFold(k, "password") && v == s
				}) {
					continue // key=value is a DSN's form; Secrets reads it in any URL field, to scrub logs
				}
				if strings.Contains(v, s) {
					t.Fatalf("secret %q of %q survives masking: %q", s, u, v)
				}
				if slices.Contains(m.Secrets(), s) {
					t.Fatalf("secret %q of %q among the masked secrets %q", s, u, m.Secrets())
				}
			}
		}
	})
}

var percentEscape = regexp.MustCompile(`%[0-9A-Fa-f]{2}`)
