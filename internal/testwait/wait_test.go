package testwait

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// fatalRecorder is a testing.TB whose Fatalf records the message and ends
// the goroutine, as the real one does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls f on a recorder in a goroutine of its own and returns what
// Fatalf said ("" if it was not called).
func run(f func(t testing.TB)) string {
	r := &fatalRecorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r.msg
}

func TestForReturnsOnceTheConditionHolds(t *testing.T) {
	var calls atomic.Int64
	msg := run(func(tb testing.TB) {
		For(tb, 10*time.Second, "the third look", func() bool { return calls.Add(1) >= 3 })
	})
	if msg != "" {
		t.Fatalf("For failed: %s", msg)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("the condition was looked at %d times, want 3 (For returns as soon as it holds)", n)
	}
}

func TestForFailsNamingWhatItWaitedFor(t *testing.T) {
	start := time.Now()
	msg := run(func(tb testing.TB) {
		For(tb, 50*time.Millisecond, "a condition that never holds", func() bool { return false })
	})
	if want := "timed out after 50ms waiting for a condition that never holds"; msg != want {
		t.Errorf("For said %q, want %q", msg, want)
	}
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Errorf("For gave up after %s, before its 50ms timeout", took)
	}
}
