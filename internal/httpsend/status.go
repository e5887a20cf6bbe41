package httpsend

import (
	"fmt"
	"time"
)

// StatusError is an answer the target's Table does not Accept.
type StatusError struct {
	// Target names the target and its scheme and host, never its path,
	// query or user info: "segment (https://api.segment.io)".
	Target string
	Code   int
	// Body is the start of the answer (at most SnippetBytes), credentials
	// redacted: the reason kept with dead letters.
	Body string
	// Outcome is the Table's verdict on Code.
	Outcome Outcome
	// Wait is the answer's Retry-After for a BackOff outcome, zero if none.
	Wait time.Duration
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s answered HTTP %d", e.Target, e.Code)
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// StatusCode returns the HTTP status (the Runner's error metrics use it).
func (e *StatusError) StatusCode() int { return e.Code }
