package config_test

import (
	"go/build"
	"strings"
	"testing"
)

// TestConfigImportsNoLogServerOrDestination: the configuration is data. It
// may import the leaf packages that hold option types and their defaults
// (delivery, logconfig), the wire formats and the pure mapping, but never
// the log, the server or a destination, and so never nats-server.
func TestConfigImportsNoLogServerOrDestination(t *testing.T) {
	const module = "github.com/statsig-bridge/statsig-bridge/"
	seen := map[string]bool{}
	var walk func(path, from string)
	walk = func(path, from string) {
		if seen[path] {
			return
		}
		seen[path] = true
		for _, banned := range []string{"internal/queue", "internal/destination", "internal/server", "internal/cli", "internal/debugger", "github.com/nats-io/"} {
			if strings.HasPrefix(strings.TrimPrefix(path, module), banned) {
				t.Errorf("internal/config imports %s (through %s)", path, from)
			}
		}
		if !strings.HasPrefix(path, module) {
			return // only our packages can lead to the banned ones
		}
		pkg, err := build.Import(path, ".", 0)
		if err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		for _, imp := range pkg.Imports {
			walk(imp, path)
		}
	}
	walk(module+"internal/config", "")
}
