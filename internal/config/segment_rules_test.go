package config_test

import (
	"strings"
	"testing"
	"time"
)

// TestValidateSegmentRequestRate (Segment conformance check 25): a Segment
// destination's request rate is at most Segment's workspace ceiling of
// 1,000 requests a second, and at most 50 for a partner source; each
// excess is a configuration error naming the key and the limit. Other
// destinations' rates are theirs to set.
func TestValidateSegmentRequestRate(t *testing.T) {
	problems := problemsOf(t, `
destinations:
  - name: over_ceiling
    segment: {write_key: k}
    delivery: {requests_per_second: 1001}
  - name: partner_over
    segment: {write_key: k, partner_source: true}
    delivery: {requests_per_second: 51}
  - name: at_ceiling
    segment: {write_key: k}
    delivery: {requests_per_second: 1000}
  - name: partner_at
    segment: {write_key: k, partner_source: true}
    delivery: {requests_per_second: 50}
  - name: hook
    type: webhook
    webhook: {url: "https://hooks.example.com/in"}
    delivery: {requests_per_second: 5000}
  - name: own_receiver
    segment: {write_key: k, endpoint: "https://rudder.internal.example:8080"}
    delivery: {requests_per_second: 5000}
  - name: eu_over
    segment: {write_key: k, endpoint: "https://events.eu1.segmentapis.com"}
    delivery: {requests_per_second: 1001}
`)
	if !hasProblem(problems, "destinations[0].delivery.requests_per_second:", "1001", "1000") {
		t.Errorf("no problem naming requests_per_second over 1,000; got:\n  %s", strings.Join(problems, "\n  "))
	}
	if !hasProblem(problems, "destinations[1].delivery.requests_per_second:", "51", "50", "partner_source") {
		t.Errorf("no problem naming a partner source's requests_per_second over 50; got:\n  %s", strings.Join(problems, "\n  "))
	}
	if !hasProblem(problems, "destinations[6].delivery.requests_per_second:", "1001", "1000") {
		t.Errorf("no problem naming the EU endpoint's requests_per_second over 1,000; got:\n  %s", strings.Join(problems, "\n  "))
	}
	for _, d := range []string{"destinations[2]", "destinations[3]", "destinations[4]", "destinations[5]"} {
		if hasProblem(problems, d) {
			t.Errorf("%s refused; got:\n  %s", d, strings.Join(problems, "\n  "))
		}
	}
}

// TestSegmentDefaults (Segment conformance checks 3 and 23): a Segment
// destination configured with only its write key sends to the US endpoint
// and abandons a request after analytics-go's 10 s (then retried).
func TestSegmentDefaults(t *testing.T) {
	cfg, err := load(t, `
destinations:
  - name: s
    segment: {write_key: k}
`, env{})
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Destinations[0].Segment
	if s.Endpoint != "https://api.segment.io" || s.Timeout != 10*time.Second {
		t.Errorf("endpoint %q timeout %s, want https://api.segment.io and 10s", s.Endpoint, s.Timeout)
	}
}
