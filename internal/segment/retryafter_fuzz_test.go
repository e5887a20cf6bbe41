package segment

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzRetryAfter: the wait read from Retry-After and X-RateLimit-Reset is
// never negative nor longer than MaxRetryAfter, whatever the headers hold
// (an out-of-range number must not overflow into a negative or a
// centuries-long wait); whole seconds within the bound are read exactly,
// and the larger of the two headers wins.
func FuzzRetryAfter(f *testing.F) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for _, s := range [][2]string{
		{"", ""}, {"5", ""}, {"", "7"}, {"3", "1795000000"}, {"1e10", ""}, {"", "1e30"}, {"Inf", "-Inf"},
		{"9223372036", ""}, {"", "9223372036"}, {"Wed, 26 Nov 2026 12:00:30 GMT", "2"}, {"NaN", "NaN"}, {"", "1800000000.5"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, ra, reset string) {
		h := http.Header{}
		h.Set("Retry-After", ra)
		h.Set("X-RateLimit-Reset", reset)
		got := retryAfter(h, now)
		if got < 0 || got > MaxRetryAfter {
			t.Fatalf("Retry-After %q, X-RateLimit-Reset %q: wait %v", ra, reset, got)
		}
		x, errX := strconv.ParseFloat(strings.TrimSpace(h.Get("Retry-After")), 64)
		y, errY := strconv.ParseFloat(strings.TrimSpace(h.Get("X-RateLimit-Reset")), 64)
		if (errX == nil && x >= MaxRetryAfter.Seconds()) || (errY == nil && y >= float64(now.Unix())+MaxRetryAfter.Seconds()) {
			if got != MaxRetryAfter {
				t.Fatalf("Retry-After %q, X-RateLimit-Reset %q: wait %v, want the longest, %v", ra, reset, got, MaxRetryAfter)
			}
		}
		a, errA := strconv.ParseInt(strings.TrimSpace(h.Get("Retry-After")), 10, 64)
		b, errB := strconv.ParseInt(strings.TrimSpace(h.Get("X-RateLimit-Reset")), 10, 64)
		if errA == nil && errB == nil && a >= 0 && b >= 0 && a < 1e6 && b < 1e6 {
			if want := time.Duration(max(a, b)) * time.Second; got != want {
				t.Fatalf("Retry-After %q, X-RateLimit-Reset %q: wait %v, want %v", ra, reset, got, want)
			}
		}
	})
}
