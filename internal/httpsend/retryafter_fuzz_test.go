package httpsend

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzRetryAfter is the one fuzz target of the one Retry-After parser
// (it replaces the destination's, Segment client's and importer's): the
// wait is never negative nor longer than MaxRetryAfter, whatever the
// headers hold (an out-of-range number must not overflow into a negative
// or a centuries-long wait); whole seconds are read exactly; an HTTP date
// is the time until it; an unreadable, negative or NaN value is no wait;
// and of Retry-After and X-RateLimit-Reset the larger wins.
func FuzzRetryAfter(f *testing.F) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for _, s := range [][2]string{
		{"", ""}, {"0", ""}, {"5", ""}, {" 120 ", ""}, {"1.5", ""}, {"-1", ""}, {"NaN", "NaN"}, {"Inf", "-Inf"}, {"+Inf", ""},
		{"1e400", ""}, {"1e10", ""}, {"9223372036", ""}, {"9223372036854775807", ""}, {"31536000", ""}, {"31536001", ""},
		{"3600", ""}, {"3601", ""}, {"soon", ""}, {"", "7"}, {"3", "1795000000"}, {"", "1e30"}, {"", "9223372036"},
		{"", "1800000000.5"}, {"Wed, 26 Nov 2026 12:00:30 GMT", "2"}, {"Tue, 25 Nov 2026 12:00:00 GMT", ""},
		{"Fri, 01 Jan 9999 00:00:00 GMT", ""},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, ra, reset string) {
		h := http.Header{}
		h.Set("Retry-After", ra)
		h.Set("X-RateLimit-Reset", reset)
		got := RetryAfter(h, now)
		if got < 0 || got > MaxRetryAfter {
			t.Fatalf("Retry-After %q, X-RateLimit-Reset %q: wait %v", ra, reset, got)
		}
		a, b := strings.TrimSpace(h.Get("Retry-After")), strings.TrimSpace(h.Get("X-RateLimit-Reset"))
		// Either header alone asking for the longest wait gets it.
		x, errX := strconv.ParseFloat(a, 64)
		y, errY := strconv.ParseFloat(b, 64)
		if (errX == nil && x >= MaxRetryAfter.Seconds()) || (errY == nil && y >= float64(now.Unix())+MaxRetryAfter.Seconds()) {
			if got != MaxRetryAfter {
				t.Fatalf("Retry-After %q, X-RateLimit-Reset %q: wait %v, want the longest, %v", ra, reset, got, MaxRetryAfter)
			}
		}
		// Retry-After alone: whole seconds exactly, an HTTP date as the time
		// until it, a negative or NaN number as none.
		if b == "" {
			if n, err := strconv.ParseInt(a, 10, 64); err == nil && n >= 0 {
				want := MaxRetryAfter
				if n < int64(MaxRetryAfter/time.Second) {
					want = time.Duration(n) * time.Second
				}
				if got != want {
					t.Fatalf("Retry-After %q: wait %v, want %v", ra, got, want)
				}
			}
			if errX == nil && (x < 0 || math.IsNaN(x)) && got != 0 {
				t.Fatalf("Retry-After %q: wait %v, want none", ra, got)
			}
			if d, err := http.ParseTime(a); err == nil {
				if want := min(max(d.Sub(now), 0), MaxRetryAfter); got != want {
					t.Fatalf("Retry-After %q: wait %v, want %v", ra, got, want)
				}
			}
		}
		// Both as small whole seconds: the larger wins.
		p, errP := strconv.ParseInt(a, 10, 64)
		q, errQ := strconv.ParseInt(b, 10, 64)
		if errP == nil && errQ == nil && p >= 0 && q >= 0 && p < 1e6 && q < 1e6 {
			if want := time.Duration(max(p, q)) * time.Second; got != want {
				t.Fatalf("Retry-After %q, X-RateLimit-Reset %q: wait %v, want %v", ra, reset, got, want)
			}
		}
	})
}
