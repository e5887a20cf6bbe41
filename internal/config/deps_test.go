package config_test

import (
	"go/build"
	"strings"
	"testing"
)

// TestConfigImportsOnlyLeafPackages: the configuration is data. Of our
// packages it imports only the leaves that hold option types and their
// defaults (delivery, logconfig, mappingconfig) and the Statsig wire format
// they name, none of which imports another of ours: never the mapping,
// the log, the server or a destination, and so never nats-server.
func TestConfigImportsOnlyLeafPackages(t *testing.T) {
	const module = "github.com/statsig-bridge/statsig-bridge/"
	leaves := map[string]bool{
		"internal/delivery": true, "internal/logconfig": true, "internal/mappingconfig": true, "internal/statsig": true,
	}
	seen := map[string]bool{}
	var walk func(path, from string)
	walk = func(path, from string) {
		if seen[path] {
			return
		}
		seen[path] = true
		if strings.HasPrefix(path, "github.com/nats-io/") {
			t.Errorf("internal/config imports %s (through %s)", path, from)
		}
		ours, isOurs := strings.CutPrefix(path, module)
		if !isOurs {
			return // only our packages can lead to the banned ones
		}
		if from != "" && !leaves[ours] {
			t.Errorf("internal/config imports %s (through %s): not one of the option or wire-format leaves", ours, from)
		}
		pkg, err := build.Import(path, ".", 0)
		if err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		for _, imp := range pkg.Imports {
			if from != "" && strings.HasPrefix(imp, module) && ours != "internal/mappingconfig" {
				t.Errorf("leaf %s imports %s", ours, imp)
			}
			walk(imp, path)
		}
	}
	walk(module+"internal/config", "")
}
