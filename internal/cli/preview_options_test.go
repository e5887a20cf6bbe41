package cli_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/statsig-bridge/statsig-bridge/internal/cli"
)

// TestPreviewShowsDedupeIdentifyEnvironments: preview applies the three
// options over its input as a bridge that has seen none of it: the first
// exposure is sent after the user's identify, its repeat is filtered as
// duplicate_exposure, and a staging event is filtered by environment.
func TestPreviewShowsDedupeIdentifyEnvironments(t *testing.T) {
	cfg := writeFile(t, "bridge.yaml", `
destinations:
  - name: seg
    type: segment
    segment: {write_key: wk}
    mapping:
      environments: [production]
      dedupe_exposures: 24h
      identify: on_change
`)
	in := `{"events":[
 {"eventName":"statsig::gate_exposure","user":{"userID":"u1","custom":{"plan":"pro"},"statsigEnvironment":{"tier":"production"}},"metadata":{"gate":"g","gateValue":"true","ruleID":"r"},"time":1795540399245},
 {"eventName":"statsig::gate_exposure","user":{"userID":"u1","custom":{"plan":"pro"},"statsigEnvironment":{"tier":"production"}},"metadata":{"gate":"g","gateValue":"true","ruleID":"r"},"time":1795540399999},
 {"eventName":"statsig::gate_exposure","user":{"userID":"u1","statsigEnvironment":{"tier":"staging"}},"metadata":{"gate":"g","gateValue":"true","ruleID":"r"},"time":1795540399999}]}`
	r := run(t, map[string]string{}, []byte(in), "preview", "--config", cfg, "-")
	if r.Code != cli.ExitOK {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		var l struct {
			Status, Reason string
			Message        struct {
				Type   string         `json:"type"`
				Traits map[string]any `json:"traits"`
			}
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		got = append(got, l.Status+" "+l.Message.Type+" "+strings.SplitN(l.Reason, ":", 2)[0])
		if l.Message.Type == "identify" && l.Message.Traits["plan"] != "pro" {
			t.Errorf("identify traits %v, want plan pro", l.Message.Traits)
		}
	}
	want := []string{"send identify ", "send track ", "filtered  duplicate_exposure", "filtered  environment"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("preview lines:\n%s\nwant:\n%s\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), r.Stdout)
	}
}
