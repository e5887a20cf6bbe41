package queue

import (
	"sync"
	"time"
)

// inflight counts the Store calls still waiting for the store's answer, so
// that Close waits for exactly those.
//
// Close used to wait for every publish the client had not seen acked. A
// publish the embedded store failed to write is never answered, and its
// Store call has long returned (ErrDiskFull, or its caller's deadline):
// nobody waits for that answer, yet Close waited out its whole deadline for
// it after every disk-full episode. A publish whose Store call returned
// cannot turn into a 202 any more, so only the calls still waiting matter.
type inflight struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to 0; nil while n is 0
}

// enter counts one Store call; leave must follow.
func (f *inflight) enter() {
	f.mu.Lock()
	if f.n == 0 {
		f.idle = make(chan struct{})
	}
	f.n++
	f.mu.Unlock()
}

// leave ends a call counted by enter.
func (f *inflight) leave() {
	f.mu.Lock()
	f.n--
	if f.n == 0 {
		close(f.idle)
		f.idle = nil
	}
	f.mu.Unlock()
}

// wait waits until no Store call is waiting, or for d. It returns how many
// still wait (0 when all have returned).
func (f *inflight) wait(d time.Duration) int {
	f.mu.Lock()
	idle := f.idle
	f.mu.Unlock()
	if idle == nil {
		return 0
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-idle:
		return 0
	case <-t.C:
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.n
	}
}
