package httpsend

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

// TestRetryAfterForms: the forms the targets send (Segment's 429 carries
// both headers, each "seconds"; other APIs send an epoch in
// X-RateLimit-Reset; HTTP allows a date).
func TestRetryAfterForms(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		headers map[string]string
		want    time.Duration
	}{
		{"seconds", map[string]string{"Retry-After": "7"}, 7 * time.Second},
		{"fractional seconds", map[string]string{"Retry-After": "1.5"}, 1500 * time.Millisecond},
		{"HTTP date", map[string]string{"Retry-After": now.Add(30 * time.Second).Format(http.TimeFormat)}, 30 * time.Second},
		{"HTTP date in the past", map[string]string{"Retry-After": now.Add(-time.Minute).Format(http.TimeFormat)}, 0},
		{"X-RateLimit-Reset seconds", map[string]string{"X-RateLimit-Reset": "12"}, 12 * time.Second},
		{"X-RateLimit-Reset epoch", map[string]string{"X-RateLimit-Reset": strconv.FormatInt(now.Add(45*time.Second).Unix(), 10)}, 45 * time.Second},
		{"larger wins: reset", map[string]string{"Retry-After": "5", "X-RateLimit-Reset": "20"}, 20 * time.Second},
		{"larger wins: retry-after", map[string]string{"Retry-After": "50", "X-RateLimit-Reset": "20"}, 50 * time.Second},
		{"larger wins: date vs epoch", map[string]string{
			"Retry-After":       now.Add(10 * time.Second).Format(http.TimeFormat),
			"X-RateLimit-Reset": strconv.FormatInt(now.Add(3*time.Second).Unix(), 10),
		}, 10 * time.Second},
		{"garbage ignored", map[string]string{"Retry-After": "soon", "X-RateLimit-Reset": "-3"}, 0},
		{"a year at most", map[string]string{"Retry-After": "1e10"}, MaxRetryAfter},
		{"none", nil, 0},
	} {
		h := http.Header{}
		for k, v := range tc.headers {
			h.Set(k, v)
		}
		if got := RetryAfter(h, now); got != tc.want {
			t.Errorf("%s: wait %v, want %v", tc.name, got, tc.want)
		}
	}
}
