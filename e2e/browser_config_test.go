package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"gopkg.in/yaml.v3"

	"github.com/statsig-bridge/statsig-bridge/internal/config"
)

// readmeConfigYAML is the README's full configuration file (its first yaml
// block: "every key shown with its default").
func readmeConfigYAML(t *testing.T) []byte {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := bytes.Cut(readme, []byte("```yaml\n"))
	if !ok {
		t.Fatal("README has no yaml block")
	}
	block, _, _ := bytes.Cut(rest, []byte("```"))
	return block
}

// yamlLeaves lists the dotted paths of a mapping node's leaf keys (a list or
// a scalar is a leaf) with their scalar text ("" for lists).
func yamlLeaves(n *yaml.Node, prefix string, out map[string]string) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i].Value, n.Content[i+1]
		path := strings.TrimPrefix(prefix+"."+k, ".")
		switch v.Kind {
		case yaml.MappingNode:
			yamlLeaves(v, path, out)
		case yaml.ScalarNode:
			out[path] = v.Value
		default:
			out[path] = ""
		}
	}
}

// TestBrowserConfigViewShowsEveryReadmeKey runs a bridge on the README's
// full configuration file and checks, in Chromium, that the config view
// shows every key the file has (general sections and each destination's
// connection, filter, mapping and delivery), each duration as the file
// writes it (never nanoseconds), and sections titled in words ("TLS", not
// "Tls").
func TestBrowserConfigViewShowsEveryReadmeKey(t *testing.T) {
	parallel(t)
	chromiumPath(t)
	raw := readmeConfigYAML(t)
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	root := doc.Content[0]
	general := map[string]string{}
	var dests []map[string]string
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i].Value, root.Content[i+1]
		if k != "destinations" {
			yamlLeaves(&yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{root.Content[i], v}}, "", general)
			continue
		}
		for _, d := range v.Content {
			leaves := map[string]string{}
			yamlLeaves(d, "", leaves)
			dests = append(dests, leaves)
		}
	}

	s := newSink(t)
	path := filepath.Join(t.TempDir(), "bridge.yaml")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"SEGMENT_WRITE_KEY": s.WriteKey, "STATSIG_SERVER_SECRET": "secret-readme-0000000000"}
	cfg, err := config.Load(path, func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	// Loopback, a data dir of the test's own, and the sink instead of
	// Segment: nothing leaves the machine.
	cfg.Listen, cfg.DataDir = "127.0.0.1:0", t.TempDir()
	cfg.Specs.API = s.URL + "/specs" // answers 404: no config specs
	for i := range cfg.Destinations {
		if d := &cfg.Destinations[i]; d.Segment != nil {
			d.Segment.Endpoint = s.URL
		} else if d.Warehouse != nil && d.Warehouse.Driver == "sqlite" {
			d.Warehouse.DSN = filepath.Join(cfg.DataDir, "warehouse.db")
		}
	}
	b := startBridge(t, cfg)
	ctx := openDebugger(t, b, "#/config")
	page(t, ctx, "the config view", uiWait, chromedp.WaitVisible(testid("config-destination")))

	missing := eval[[]string](t, ctx, fmt.Sprintf(`(() => {
		const general = %s, dests = %s, missing = [];
		const sections = document.querySelector('.config-sections');
		for (const k of Object.keys(general)) {
			if (!sections.querySelector('[data-key="' + k + '"]')) missing.push(k);
		}
		const cards = document.querySelectorAll('[data-testid="config-destination"]');
		dests.forEach((d, i) => {
			const card = Array.from(cards).find(c => c.dataset.destination === d.name);
			if (!card) { missing.push('destinations[' + i + ']'); return; }
			for (const k of Object.keys(d)) {
				if (!card.querySelector('[data-key="' + k + '"]')) missing.push(d.name + ': ' + k);
			}
		});
		return missing; })()`, jsonOf(t, general), jsonOf(t, dests)))
	if len(missing) > 0 {
		t.Errorf("keys of the README's file not shown in the config view: %v", missing)
	}

	// Durations read as in the file: the shown text is the file's value
	// (or the same duration written shorter), never a count of nanoseconds.
	for k, v := range general {
		d, err := time.ParseDuration(v)
		if err != nil || v == "0" {
			continue
		}
		shown := eval[string](t, ctx, fmt.Sprintf(`(document.querySelector('[data-value="%s"]') || {}).innerText || ""`, k))
		if got, err := time.ParseDuration(strings.TrimSpace(shown)); err != nil || got != d {
			t.Errorf("%s: the view shows %q, want the duration %s", k, shown, v)
		}
	}
	titles := eval[string](t, ctx, `Array.from(document.querySelectorAll('.config-sections h2')).map(h => h.innerText).join(" | ")`)
	for _, bad := range []string{"Tls", "Ui", "Nats"} {
		if strings.Contains(" "+titles+" ", " "+bad+" ") {
			t.Errorf("a section is titled %q: %s", bad, titles)
		}
	}
	t.Logf("%d general keys and %d destinations' keys shown; sections: %s", len(general), len(dests), titles)
	screenshot(t, ctx, "config")
}

// jsonOf is v as a JavaScript literal.
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
