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

// ConfiguredURLAnswers is the table of a target whose URL the user writes
// in the configuration (a webhook receiver, Statsig's events API behind a
// configurable base), following HTTP's own meanings:
//   - 2xx: delivered.
//   - 401/403: the credentials are refused; the sender pauses and probes.
//   - 404, 405 and 410: the URL is wrong (no such route, one that takes no
//     POST, one that is gone). Every request would get the same answer, so
//     bisecting and dead-lettering every event over a configuration mistake
//     would be wrong: pause, as for refused credentials, and the log keeps
//     the events until the URL is fixed.
//   - 408, 429 and 5xx: transient; retried with backoff, no sooner than
//     Retry-After (or X-RateLimit-Reset) when the target names one.
//   - other 4xx (400, 413, 422, …): the target refuses this content; the
//     batch is bisected down to the items refused on their own, which are
//     dead-lettered with the answer.
var ConfiguredURLAnswers = Table{
	"2xx": Accept,
	"401": Pause,
	"403": Pause,
	"404": Pause,
	"405": Pause,
	"410": Pause,
	"408": BackOff,
	"429": BackOff,
	"5xx": BackOff,
	"4xx": Refuse,
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
