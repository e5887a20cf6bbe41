package queue

import (
	"testing"
	"time"
)

// TestInflightWait: wait returns at once with nothing in flight, as soon as
// the last call leaves, and with the count of calls still in flight when
// its time is up.
func TestInflightWait(t *testing.T) {
	var f inflight
	if n := f.wait(time.Hour); n != 0 {
		t.Fatalf("wait with nothing in flight: %d", n)
	}
	f.enter()
	f.enter()
	if n := f.wait(10 * time.Millisecond); n != 2 {
		t.Fatalf("wait with two in flight: %d, want 2", n)
	}
	f.leave()
	done := make(chan int)
	go func() { done <- f.wait(time.Hour) }()
	f.leave()
	if n := <-done; n != 0 {
		t.Fatalf("wait once both left: %d, want 0", n)
	}
	// Counting starts again after idle.
	f.enter()
	if n := f.wait(time.Millisecond); n != 1 {
		t.Fatalf("wait after a new enter: %d, want 1", n)
	}
	f.leave()
}
