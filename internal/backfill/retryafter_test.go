package backfill

import (
	"net/http"
	"testing"
	"time"
)

// TestRetryAfterKeepsTheImportersHour: the importer reads Retry-After as
// every sender of the bridge does (httpsend.RetryAfter, fuzzed there), but
// waits at most an hour, and its own backoff when the answer asks for no
// wait (a "0" must not resend in a loop).
func TestRetryAfterKeepsTheImportersHour(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	const fallback = 500 * time.Millisecond
	for v, want := range map[string]time.Duration{
		"": fallback, "0": fallback, "-1": fallback, "soon": fallback, "3": 3 * time.Second, " 10 ": 10 * time.Second,
		"1.5": 1500 * time.Millisecond, "3600": time.Hour, "3601": time.Hour, "9223372036854775807": time.Hour,
		"Wed, 26 Nov 2026 12:00:30 GMT": 30 * time.Second,
	} {
		h := http.Header{}
		h.Set("Retry-After", v)
		if got := retryAfter(h, now, fallback); got != want {
			t.Errorf("Retry-After %q: wait %v, want %v", v, got, want)
		}
	}
}
