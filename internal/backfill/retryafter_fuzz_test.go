package backfill

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzRetryAfter: the importer's wait after a 429 or 5xx is the answer's
// Retry-After in whole seconds, capped at maxRetryAfter, or the backoff
// when there is none or it is unreadable; never negative (which resent at
// once, in a loop, while the bridge asked for a pause).
func FuzzRetryAfter(f *testing.F) {
	for _, v := range []string{"", "0", "3", " 10 ", "-1", "1.5", "3600", "3601", "9223372036854775807", "9300000000", "Wed, 26 Nov 2026 12:00:30 GMT"} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		const fallback = 500 * time.Millisecond
		h := http.Header{}
		h.Set("Retry-After", v)
		got := retryAfter(h, fallback)
		if got < 0 || got > maxRetryAfter {
			t.Fatalf("Retry-After %q: wait %v", v, got)
		}
		want := fallback
		if n, err := strconv.ParseInt(strings.TrimSpace(h.Get("Retry-After")), 10, 64); err == nil && n >= 0 {
			want = maxRetryAfter
			if n < 3600 {
				want = time.Duration(n) * time.Second
			}
		}
		if got != want {
			t.Fatalf("Retry-After %q: wait %v, want %v", v, got, want)
		}
	})
}
