package destination

import (
	"errors"

	"github.com/statsig-bridge/statsig-bridge/internal/httpsend"
)

// FromHTTP turns the error of an httpsend.Sender into the Runner's typed
// outcome, by the Outcome the target's status table gave the answer:
// Pause is an *AuthError, Refuse a *PermanentError (status and answer kept
// for the dead letter), BackOff with a Retry-After a *BackOffError; Retry,
// BackOff without a wait and transport errors stay plain (transient). It
// is the one place where an HTTP answer becomes a delivery decision.
func FromHTTP(err error) error {
	var se *httpsend.StatusError
	if !errors.As(err, &se) {
		return err // nil, or a transport error: transient
	}
	switch se.Outcome {
	case httpsend.Pause:
		return &AuthError{Err: err}
	case httpsend.Refuse:
		return &PermanentError{Err: err, Status: se.Code, Response: se.Body}
	case httpsend.BackOff:
		if se.Wait > 0 {
			return &BackOffError{Wait: se.Wait, Err: err}
		}
	}
	return err
}
