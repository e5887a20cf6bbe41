package config_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/statsig-bridge/statsig-bridge/internal/config"
)

// TestReadableShowsDurationsAsDurations: the config view's JSON carries
// every duration as a Go duration string, keys in the file's order.
func TestReadableShowsDurationsAsDurations(t *testing.T) {
	cfg, err := load(t, "log: {ack_wait: 45s}\ndestinations:\n  - name: s\n    segment: {write_key: k}\n", env{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := config.Readable(cfg.Masked())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	log := m["log"].(map[string]any)
	if log["ack_wait"] != "45s" || log["dead_letter_max_age"] != "720h" {
		t.Errorf("log durations %v and %v, want 45s and 720h", log["ack_wait"], log["dead_letter_max_age"])
	}
	server := m["server"].(map[string]any)
	if server["read_header_timeout"] != "10s" {
		t.Errorf("server.read_header_timeout %v, want 10s", server["read_header_timeout"])
	}
	retry := m["destinations"].([]any)[0].(map[string]any)["delivery"].(map[string]any)["retry"].(map[string]any)
	if retry["initial"] != "125ms" || retry["max"] != "10s" {
		t.Errorf("retry %v, want durations", retry)
	}
	for d, want := range map[string]string{"90m": "1h30m", "1h0m1s": "1h0m1s", "0s": "0s", "2m": "2m", "1.5s": "1.5s"} {
		cfg, err := load(t, "log: {keep: "+d+"}\n", env{})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := config.Readable(cfg.Masked())
		if !strings.Contains(string(b), `"keep":"`+want+`"`) {
			t.Errorf("keep %s shown as %s, want %s", d, b, want)
		}
	}
	if i, j := strings.Index(string(b), `"listen"`), strings.Index(string(b), `"destinations"`); i < 0 || j < i {
		t.Errorf("members out of the configuration's order:\n%s", b)
	}
	if strings.Contains(string(b), `"k"`) {
		t.Errorf("the write key is shown:\n%s", b)
	}
}
