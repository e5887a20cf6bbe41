package cli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
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

// TestDocsReferenceOnlyWhatExists: every relative link and every repository
// path the README, the fixtures' README and SECURITY.md name in backticks
// exists (issue 15.9: README cited "design.md §3", the fixtures' README a
// docs/statsig-formats.md, neither in the repository).
func TestDocsReferenceOnlyWhatExists(t *testing.T) {
	root := filepath.Join("..", "..")
	link := regexp.MustCompile(`\]\(([^)#\s]+)`)
	tick := regexp.MustCompile("`([A-Za-z0-9_./-]+)`")
	mdName := regexp.MustCompile(`\b[A-Za-z0-9_/.-]+\.md\b`)
	for _, doc := range []string{"README.md", "SECURITY.md", "BENCHMARKS.md", filepath.Join("testdata", "fixtures", "README.md"), filepath.Join("testdata", "golden", "README.md")} {
		raw, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Dir(filepath.Join(root, doc))
		for _, m := range link.FindAllSubmatch(raw, -1) {
			ref := string(m[1])
			if strings.Contains(ref, "://") || strings.HasPrefix(ref, "mailto:") {
				continue
			}
			if _, err := os.Stat(filepath.Join(dir, ref)); err != nil {
				t.Errorf("%s links to %s, which does not exist", doc, ref)
			}
		}
		for _, m := range mdName.FindAll(raw, -1) { // a document named in the text
			ref := string(m)
			if strings.Contains(ref, "://") {
				continue
			}
			_, errRoot := os.Stat(filepath.Join(root, ref))
			_, errDir := os.Stat(filepath.Join(dir, ref))
			if errRoot != nil && errDir != nil {
				t.Errorf("%s names %s, which does not exist", doc, ref)
			}
		}
		for _, m := range tick.FindAllSubmatch(raw, -1) {
			ref := string(m[1])
			repoPath := false
			for _, p := range []string{"internal/", "cmd/", "deploy/", "docs/", "testdata/", "scripts/", ".ci/"} {
				repoPath = repoPath || strings.HasPrefix(ref, p)
			}
			if !repoPath && !strings.HasSuffix(ref, ".md") {
				continue
			}
			base := filepath.Base(ref)
			if strings.ContainsAny(ref, "*<>") || strings.Contains(ref, "testdata/fuzz") || // a folder of each package
				strings.Contains(base, ".") && base[strings.LastIndex(base, ".")+1] >= 'A' && base[strings.LastIndex(base, ".")+1] <= 'Z' { // a Go name
				continue
			}
			if m, _ := filepath.Glob(filepath.Join(root, ref) + ".*"); len(m) > 0 { // a fixture named without its ending
				continue
			}
			if _, err := os.Stat(filepath.Join(root, ref)); err != nil {
				if _, err2 := os.Stat(filepath.Join(dir, ref)); err2 != nil {
					t.Errorf("%s names %s, which does not exist", doc, ref)
				}
			}
		}
	}
}

// TestReadmeExposureOptionsConfig: the README's example of the three
// per-destination options (section "Exposure dedupe, Identify on change,
// routing by environment") validates, and the effective configuration
// shows each of them as set.
func TestReadmeExposureOptionsConfig(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := bytes.Cut(readme, []byte("\n## Exposure dedupe, Identify on change, routing by environment\n"))
	if !ok {
		t.Fatal("README has no section on exposure dedupe, identify and environments")
	}
	_, rest, ok := bytes.Cut(section, []byte("```yaml\n"))
	if !ok {
		t.Fatal("the section has no ```yaml block")
	}
	block, _, _ := bytes.Cut(rest, []byte("```"))
	path := writeFile(t, "options.yaml", string(block))
	r := run(t, map[string]string{"SEGMENT_WRITE_KEY": "readme-write-key-000000"}, nil, "validate", "--config", path)
	if r.Code != cli.ExitOK {
		t.Fatalf("the README's example does not validate: exit %d\n%s", r.Code, r.Stderr)
	}
	for _, want := range []string{"environments:", "- production", "dedupe_exposures: 24h", "identify: on_change", "identify_horizon: 2160h", "- staging"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("effective config lacks %q:\n%s", want, r.Stdout)
		}
	}
}
