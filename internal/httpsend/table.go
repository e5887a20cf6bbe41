package httpsend

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
)

// Outcome is what an answer means for the request that got it.
type Outcome int

// The outcomes a Table maps statuses to.
const (
	// Retry: the same request may succeed later; retried with backoff.
	Retry Outcome = iota
	// Accept: delivered.
	Accept
	// BackOff: retry, but not before the answer's Retry-After (or
	// X-RateLimit-Reset) when it names one; else as Retry.
	BackOff
	// Pause: the target refuses every request (credentials refused, the
	// URL wrong); nothing gets through until someone fixes the
	// configuration, so the sender stops and probes.
	Pause
	// Refuse: this request will never be accepted as it is; a batch is
	// bisected to the items refused on their own and those dead-lettered.
	Refuse
)

var outcomeNames = [...]string{Retry: "retry", Accept: "accept", BackOff: "back off", Pause: "pause", Refuse: "refuse"}

func (o Outcome) String() string {
	if o < 0 || int(o) >= len(outcomeNames) {
		return "outcome(" + strconv.Itoa(int(o)) + ")"
	}
	return outcomeNames[o]
}

// Table maps an answer's HTTP status to its Outcome. Keys are exact codes
// ("404") or classes ("4xx"); an exact code wins over its class, and a
// status no key names (1xx, an unfollowed 3xx) is Retry: the events wait
// in the log, and the error shows in the logs and metrics.
type Table map[string]Outcome

// Outcome returns the outcome of an answer with status code.
func (t Table) Outcome(code int) Outcome {
	if o, ok := t[strconv.Itoa(code)]; ok {
		return o
	}
	if o, ok := t[strconv.Itoa(code/100)+"xx"]; ok {
		return o
	}
	return Retry
}

var tableKey = regexp.MustCompile(`^[1-5]([0-9][0-9]|xx)$`)

// Check reports a key that is neither a status nor a class (a typo such as
// "4XX" would silently never match).
func (t Table) Check() error {
	for k, o := range t {
		if !tableKey.MatchString(k) {
			return fmt.Errorf("status table: key %q is neither a status (404) nor a class (4xx)", k)
		}
		if o < Retry || o > Refuse {
			return fmt.Errorf("status table: %s: unknown outcome %d", k, int(o))
		}
	}
	return nil
}

// Keys returns the table's keys, exact codes before classes, in order.
func (t Table) Keys() []string {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		ci, cj := keys[i][1:] == "xx", keys[j][1:] == "xx"
		if ci != cj {
			return !ci
		}
		return keys[i] < keys[j]
	})
	return keys
}
