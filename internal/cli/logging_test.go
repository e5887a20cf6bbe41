package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestLogDurationsAreReadable: a logged duration reads "108ms" in the JSON
// log, not 108000000 (issue 15.4).
func TestLogDurationsAreReadable(t *testing.T) {
	var buf bytes.Buffer
	newLogger(&buf, "info").Info("retrying", "wait", 108*time.Millisecond)
	if !strings.Contains(buf.String(), `"wait":"108ms"`) {
		t.Errorf("log line %s, want \"wait\":\"108ms\"", buf.String())
	}
}
