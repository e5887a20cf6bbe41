package mapping_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
	"github.com/statsig-bridge/statsig-bridge/internal/segment"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current mapping")

var goldenDir = filepath.Join("..", "..", "testdata", "golden")

// TestGoldenFixtures maps every captured Statsig request with the default
// options and the folder's config specs and compares the outcome with
// testdata/golden/<folder>/<name>.jsonl, one line per event.
func TestGoldenFixtures(t *testing.T) {
	fixtures := mapFixtures(t)
	seen := map[string]bool{}
	for _, f := range fixtures {
		rel := filepath.Join(f.Req.Folder, f.Req.Name+".jsonl")
		seen[rel] = true
		t.Run(f.Req.Folder+"/"+f.Req.Name, func(t *testing.T) {
			got := goldenLines(t, f)
			path := filepath.Join(goldenDir, rel)
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("reading golden (run `go test ./internal/mapping -run Golden -update` to create it): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("mapping of %s differs from %s (rerun with -update if the change is intended):\n%s",
					f.Req.Folder+"/"+f.Req.Name, path, lineDiff(want, got))
			}
		})
	}
	// A golden without a fixture is stale: its request was renamed or removed.
	stale, _ := filepath.Glob(filepath.Join(goldenDir, "*", "*.jsonl"))
	for _, p := range stale {
		rel, _ := filepath.Rel(goldenDir, p)
		if seen[rel] {
			continue
		}
		if *update {
			os.Remove(p)
			continue
		}
		t.Errorf("golden %s has no fixture request (rerun with -update to remove it)", p)
	}
}

// goldenLines renders a mapped fixture as JSON lines:
// {"status","kind","statsigEvent","reason","note","message"}, message being
// the exact bytes of Track.AppendJSON (omitted for filtered events).
func goldenLines(t *testing.T, f mappedFixture) []byte {
	var out []byte
	for i, me := range f.Events {
		line := []byte(`{"status":`)
		line = segment.AppendString(line, statusName(me.Result.Status))
		line = append(line, `,"kind":`...)
		line = segment.AppendString(line, string(me.Result.Kind))
		line = append(line, `,"statsigEvent":`...)
		line = segment.AppendString(line, me.Event.EventName)
		if me.Result.Reason != "" {
			line = append(line, `,"reason":`...)
			line = segment.AppendString(line, me.Result.Reason)
		}
		if me.Result.Note != 0 {
			line = append(line, `,"note":`...)
			line = segment.AppendString(line, me.Result.Note.String())
		}
		if me.JSON != nil {
			if !json.Valid(me.JSON) {
				t.Fatalf("event %d: Track.AppendJSON is not valid JSON: %s", i, me.JSON)
			}
			line = append(line, `,"message":`...)
			line = append(line, me.JSON...)
		}
		line = append(line, '}', '\n')
		if !json.Valid(line) {
			t.Fatalf("event %d: golden line is not valid JSON: %s", i, line)
		}
		out = append(out, line...)
	}
	return out
}

// lineDiff names the lines that differ, at most ten, each want then got.
func lineDiff(want, got []byte) string {
	w := strings.Split(strings.TrimSuffix(string(want), "\n"), "\n")
	g := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
	var sb strings.Builder
	fmt.Fprintf(&sb, "golden has %d lines, mapping made %d\n", len(w), len(g))
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 10; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl == gl {
			continue
		}
		shown++
		fmt.Fprintf(&sb, "line %d:\n  - %s\n  + %s\n", i+1, wl, gl)
		if d := firstDiff(wl, gl); d >= 0 {
			fmt.Fprintf(&sb, "    first difference at byte %d: %q vs %q\n", d, around(wl, d), around(gl, d))
		}
	}
	return sb.String()
}

func firstDiff(a, b string) int {
	for i := 0; i < min(len(a), len(b)); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

func around(s string, i int) string {
	lo, hi := max(0, i-20), min(len(s), i+40)
	return s[lo:hi]
}

// TestGoldenStatusesCoverFixtures guards the golden test itself: the
// fixtures must exercise sending, filtering and experiment resolution, or
// the goldens prove less than they seem to.
func TestGoldenStatusesCoverFixtures(t *testing.T) {
	counts := map[mapping.Status]int{}
	exp := 0
	for _, f := range mapFixtures(t) {
		for _, me := range f.Events {
			counts[me.Result.Status]++
			if me.Result.Status == mapping.Mapped && me.Result.Track.Event == "statsig::experiment_exposure" {
				exp++
			}
		}
	}
	if counts[mapping.Mapped] == 0 || counts[mapping.Filtered] == 0 || exp == 0 {
		t.Fatalf("fixtures mapped %d, filtered %d, experiment exposures %d: each must be > 0", counts[mapping.Mapped], counts[mapping.Filtered], exp)
	}
	t.Logf("mapped %d, filtered %d, dead letters %d, experiment exposures %d", counts[mapping.Mapped], counts[mapping.Filtered], counts[mapping.Invalid], exp)
}
