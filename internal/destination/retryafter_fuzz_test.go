package destination_test

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/destination"
)

// FuzzRetryAfter: the wait read from Retry-After is never negative nor
// longer than MaxRetryAfter (a larger one would overflow the runner's
// clock arithmetic: a batch slept on for centuries, or retried at once);
// whole seconds within the bound are read exactly, an HTTP date in the
// future is the time until it, anything unreadable is no wait.
func FuzzRetryAfter(f *testing.F) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for _, v := range []string{"", "0", "5", " 120 ", "1.5", "-1", "NaN", "Inf", "+Inf", "1e400", "1e10", "9223372036",
		"31536000", "31536001", "Wed, 26 Nov 2026 12:00:30 GMT", "Tue, 25 Nov 2026 12:00:00 GMT", "Fri, 01 Jan 9999 00:00:00 GMT", "soon"} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		h := http.Header{}
		h.Set("Retry-After", v)
		got := destination.RetryAfter(h, now)
		if got < 0 || got > destination.MaxRetryAfter {
			t.Fatalf("Retry-After %q: wait %v", v, got)
		}
		s := strings.TrimSpace(h.Get("Retry-After"))
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
			want := destination.MaxRetryAfter
			if n < int64(destination.MaxRetryAfter/time.Second) {
				want = time.Duration(n) * time.Second
			}
			if got != want {
				t.Fatalf("Retry-After %q: wait %v, want %v", v, got, want)
			}
		}
		if x, err := strconv.ParseFloat(s, 64); err == nil && (x < 0 || math.IsNaN(x)) && got != 0 {
			t.Fatalf("Retry-After %q: wait %v, want none", v, got)
		}
		if d, err := http.ParseTime(s); err == nil {
			want := min(max(d.Sub(now), 0), destination.MaxRetryAfter)
			if got != want {
				t.Fatalf("Retry-After %q: wait %v, want %v", v, got, want)
			}
		}
	})
}
