package cli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/statsig-bridge/statsig-bridge/internal/cli"
)

// TestReadmeConfigIsValid loads the README's "full file, every key shown with
// its default" as a config file: every key it shows must exist where it
// shows it (unknown keys are errors) and the file must validate.
func TestReadmeConfigIsValid(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := bytes.Cut(readme, []byte("```yaml\n"))
	if !ok {
		t.Fatal("README has no ```yaml block")
	}
	block, _, ok := bytes.Cut(rest, []byte("```"))
	if !ok {
		t.Fatal("README's yaml block does not end")
	}
	path := writeFile(t, "readme.yaml", string(block))
	vars := map[string]string{"STATSIG_SERVER_SECRET": "secret-readme-0000000000", "SEGMENT_WRITE_KEY": "readme-write-key-000000"}
	r := run(t, vars, nil, "validate", "--config", path)
	if r.Code != cli.ExitOK {
		t.Fatalf("the README's config does not validate: exit %d\n%s", r.Code, r.Stderr)
	}
	for _, want := range []string{"nats_url:", "ack_wait: 30s", "dead_letter_stream: STATSIG_DEADLETTER", "pause_probe: 30s"} {
		if !bytes.Contains([]byte(r.Stdout), []byte(want)) {
			t.Errorf("effective config lacks %q:\n%s", want, r.Stdout)
		}
	}
}
