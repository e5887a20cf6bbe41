// Package testwait is the tests' one way to wait: poll a condition until it
// holds or a deadline passes. It is imported by tests only; a test waits on
// what it needs to see, never on a guess of how long something takes.
package testwait

import (
	"testing"
	"time"
)

// pollEvery spaces the looks at a condition: often enough that a test
// goes on soon after the condition holds, seldom enough to cost nothing.
const pollEvery = 10 * time.Millisecond

// For polls cond until it holds and fails the test, naming what it waited
// for, when timeout passes first. The timeout is a bound for a broken
// build, not a guess of how long the condition takes: make it generous.
func For(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(pollEvery)
	}
}
