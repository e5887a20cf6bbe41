package e2e

import (
	"sync"
	"testing"
)

// The package's parallel tests take turns through one gate instead of
// through -test.parallel alone. Go releases its parallel tests together
// once the serial ones are done and hands out its slots in no particular
// order (in practice: by file, backwards), so the long fault runs, whose
// files come early, used to start 5-8 s after the quick ones and set the
// package's end. The gate hands a free turn to a waiting long test before
// any waiting quick one.
//
// TestMain lifts Go's own limit out of the way when -parallel is not given
// and the gate allows waitingTestsAtOnce; with -parallel N, the gate allows
// N, and Go's limit (also N) decides the order again. The cost: the time
// go test reports for a parallel test includes its wait for a turn (run
// it alone, -run '^TestX$', for its own time).

// turns is a counting semaphore whose waiters are served long ones first,
// then in the order they came.
type turns struct {
	mu    sync.Mutex
	free  int
	long  []chan struct{}
	quick []chan struct{}
}

var testTurns = &turns{free: waitingTestsAtOnce}

// parallel is t.Parallel for a test of a few seconds at most.
func parallel(t *testing.T) {
	t.Parallel()
	testTurns.take(t, false)
}

// parallelLong is t.Parallel for a test that takes longer (a fault run, a
// cluster, a browser session of several pages): it gets a turn first.
func parallelLong(t *testing.T) {
	t.Parallel()
	testTurns.take(t, true)
}

// take waits for a turn and gives it back when the test and its cleanups
// are done.
func (q *turns) take(t *testing.T, long bool) {
	q.mu.Lock()
	if q.free > 0 {
		q.free--
		q.mu.Unlock()
	} else {
		ch := make(chan struct{})
		if long {
			q.long = append(q.long, ch)
		} else {
			q.quick = append(q.quick, ch)
		}
		q.mu.Unlock()
		<-ch // the turn is handed over by give
	}
	t.Cleanup(q.give) // registered first, so it runs after the test's own cleanups
}

// give hands the turn to the next waiter, or frees it.
func (q *turns) give() {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case len(q.long) > 0:
		close(q.long[0])
		q.long = q.long[1:]
	case len(q.quick) > 0:
		close(q.quick[0])
		q.quick = q.quick[1:]
	default:
		q.free++
	}
}
