// Package pressuretest puts a test's process under CPU pressure, as
// cpupressure measures it. It is imported by tests only.
package pressuretest

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"
)

// Spin keeps 4 goroutines per core busy until the returned stop is called
// (also at the test's cleanup): each runs bursts of 2 ms of CPU followed by
// a turn in the run queue, so there are many schedulings, each waiting for
// the others, as under a real overload.
func Spin(t testing.TB) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 4 * runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				for start := time.Now(); time.Since(start) < 2*time.Millisecond; {
				}
				runtime.Gosched()
			}
		}()
	}
	stop = sync.OnceFunc(func() { cancel(); wg.Wait() })
	t.Cleanup(stop)
	return stop
}
