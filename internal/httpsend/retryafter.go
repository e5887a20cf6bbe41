package httpsend

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxRetryAfter bounds the wait an answer may ask for. A longer one would
// overflow callers' clock arithmetic ("1e10" seconds read as a negative
// wait and was ignored, "9223372036" as a sleep of 292 years); a year is
// longer than any retry budget, so the destination dead-letters the batch.
// Callers with a shorter horizon (the importer) cap it further.
const MaxRetryAfter = 365 * 24 * time.Hour

// RetryAfter returns the wait an answer asks for: Retry-After (seconds,
// fractions allowed, or an HTTP date) and X-RateLimit-Reset (seconds, or a
// Unix epoch when above 10^9: Segment documents seconds, other APIs send an
// epoch), the larger of the two, never negative and at most MaxRetryAfter.
// Zero means none, or nothing readable.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	var wait time.Duration
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 { // NaN is not >= 0
			wait = seconds(s)
		} else if t, err := http.ParseTime(v); err == nil {
			wait = t.Sub(now) // saturates rather than overflows
		}
	}
	if v := strings.TrimSpace(h.Get("X-RateLimit-Reset")); v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
			d := seconds(s)
			if s > 1e9 { // an epoch, not a delay
				d = seconds(s - float64(now.UnixNano())/1e9)
			}
			wait = max(wait, d)
		}
	}
	return min(max(wait, 0), MaxRetryAfter)
}

// seconds converts within the bound: a float beyond int64's range (Inf,
// 1e400) converts to garbage.
func seconds(s float64) time.Duration {
	if s >= MaxRetryAfter.Seconds() {
		return MaxRetryAfter
	}
	return time.Duration(s * float64(time.Second))
}
