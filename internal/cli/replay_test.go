package cli_test

import (
	"strings"
	"testing"

	"github.com/statsig-bridge/statsig-bridge/internal/cli"
)

func replayEnv(t *testing.T) map[string]string {
	return map[string]string{
		"BRIDGE_DATA_DIR":   t.TempDir(),
		"BRIDGE_WAREHOUSE":  "off",
		"SEGMENT_WRITE_KEY": "replay-write-key-0000",
		"SEGMENT_ENDPOINT":  "http://127.0.0.1:9", // never reached: nothing to replay
	}
}

// TestReplayFlags: bad combinations are usage errors (exit 2) naming the
// problem; an unknown destination is a config error (exit 3) listing the
// configured ones.
func TestReplayFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"replay"}, cli.ExitUsage, "--destination is required"},
		{[]string{"replay", "--destination", "segment", "--since", "yesterday"}, cli.ExitUsage, "neither an RFC 3339 time"},
		{[]string{"replay", "--destination", "segment", "--until", "-2h"}, cli.ExitUsage, "--until:"},
		{[]string{"replay", "--destination", "segment", "--dead-letters", "--since", "2h"}, cli.ExitUsage, "--dead-letters re-sends all"},
		{[]string{"replay", "--destination", "segment", "--since", "1h", "--until", "2h"}, cli.ExitUsage, "--until must be later than --since"},
		{[]string{"replay", "--destination", "segment", "extra"}, cli.ExitUsage, `unexpected argument "extra"`},
		{[]string{"replay", "--destination", "warehouse"}, cli.ExitConfig, `--destination "warehouse" is not configured (configured: segment)`},
	} {
		r := run(t, replayEnv(t), nil, tc.args...)
		if r.Code != tc.code || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, r.Code, r.Stderr, tc.code, tc.want)
		}
	}
}

// TestReplayEmptyRange: a replay with nothing in its range says so and
// succeeds; RFC 3339 and duration bounds are both accepted.
func TestReplayEmptyRange(t *testing.T) {
	env := replayEnv(t)
	for _, args := range [][]string{
		{"replay", "--destination", "segment", "--since", "2h"},
		{"replay", "--destination", "segment", "--since", "2026-01-01T00:00:00Z", "--until", "30m"},
		{"replay", "--destination", "segment", "--dead-letters"},
	} {
		r := run(t, env, nil, args...)
		if r.Code != cli.ExitOK || !strings.Contains(r.Stderr, "replay: done: 0 events") {
			t.Errorf("%v: exit %d, stderr:\n%s", args, r.Code, r.Stderr)
		}
	}
}
