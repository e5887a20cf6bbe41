package debugger

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// DefaultCapacity is how many recent events the debugger keeps, like
// Segment's debugger.
const DefaultCapacity = 500

// Per-destination statuses of a recorded event, worst last: an event sent
// as two messages shows the worse outcome of the two.
const (
	statusPending uint8 = iota
	statusFiltered
	statusDelivered
	statusDeadLettered
)

var statusNames = [...]string{"pending", "filtered", "delivered", "dead_lettered"}

func statusOf(s destination.Status) uint8 {
	switch s {
	case destination.StatusDelivered:
		return statusDelivered
	case destination.StatusFiltered:
		return statusFiltered
	case destination.StatusDeadLettered:
		return statusDeadLettered
	}
	return statusPending
}

// output is what one destination did with one recorded event. The payload
// is the runner's own slice: nothing is copied on the delivery path.
type output struct {
	status   uint8
	attempts int32
	at       int64 // Unix ns
	reason   string
	note     string
	payload  []byte
	extra    []byte // the second message (Experiment Viewed), if any
	redriven bool   // the outcome of a re-drive: it replaces what was
}

// slot is one recorded event: pointers into the batch the intake decoded,
// which nobody writes again.
type slot struct {
	seq        uint64 // 0: empty
	batch      *statsig.Batch
	ev         *statsig.Event
	batchFirst uint64 // seq of the batch's first recorded event
	lastOfB    bool   // the batch's last recorded event
	outs       []output
	raw        []byte // the event's JSON, encoded when the API first asks
}

// batchRef locates a batch's recorded events in the ring.
type batchRef struct {
	firstSeq uint64
	first    int // index in the batch of its first recorded event
	n        int
}

// Recorder keeps the newest events with their per-destination outcomes and
// delivery statistics. Received runs in the intake request and Outcome in
// delivery goroutines: both store pointers, never copies or JSON, and never
// block on anything but a short critical section.
type Recorder struct {
	dests   []string
	destIdx map[string]int
	stats   []*destStats

	mu       sync.Mutex
	slots    []slot
	next     uint64 // seq of the next event (from 1)
	received uint64 // events received, all time
	// batches maps batch ID → batchRef for batches with events in the
	// ring; a sync.Map so outcomes of batches long gone look it up
	// without the lock.
	batches sync.Map

	orphans orphans
	// seen is a direct-mapped set of the hashes of recently received batch
	// IDs: an outcome for a batch no longer in the ring but seen here
	// needs no waiting for its intake (a collision only costs a wait).
	seen     []atomic.Uint64
	seenSeed maphash.Seed
}

// seenSlots sizes the recently-received set (512 KB): several seconds of
// batches at full load.
const seenSlots = 1 << 16

func (r *Recorder) batchHash(id string) uint64 { return maphash.String(r.seenSeed, id) | 1 }

// NewRecorder returns a recorder for the named destinations keeping the
// newest capacity events (DefaultCapacity when ≤ 0).
func NewRecorder(destinations []string, capacity int) *Recorder {
	if capacity <= 0 {
		capacity = DefaultCapacity
	}
	r := &Recorder{dests: destinations, destIdx: map[string]int{}, slots: make([]slot, capacity), next: 1,
		seen: make([]atomic.Uint64, seenSlots), seenSeed: maphash.MakeSeed()}
	for i, d := range destinations {
		r.destIdx[d] = i
		r.stats = append(r.stats, newDestStats())
	}
	outs := make([]output, capacity*len(destinations))
	for i := range r.slots {
		r.slots[i].outs = outs[i*len(destinations) : (i+1)*len(destinations) : (i+1)*len(destinations)]
	}
	r.orphans.m = map[string][]orphan{}
	return r
}

// Capacity is the number of events kept.
func (r *Recorder) Capacity() int { return len(r.slots) }

// Received records a batch the intake stored (server.Observer). Only its
// last Capacity events can stay in the ring, so only those are recorded.
func (r *Recorder) Received(b *statsig.Batch, _ []statsig.Rejection) {
	n := len(b.Events)
	if n == 0 {
		return
	}
	first := max(0, n-len(r.slots))
	h := r.batchHash(b.ID)
	r.seen[h&(seenSlots-1)].Store(h)
	var pending []orphan
	if r.orphans.count.Load() > 0 {
		pending = r.orphans.take(b.ID)
	}
	r.mu.Lock()
	r.received += uint64(n)
	if v, ok := r.batches.Load(b.ID); ok && r.inRing(v.(batchRef).firstSeq) {
		// An SDK's retry of a stored request: the log deduplicated it.
		r.mu.Unlock()
		return
	}
	start := r.next
	capacity := uint64(len(r.slots))
	for i := first; i < n; i++ {
		seq := r.next
		r.next++
		s := &r.slots[seq%capacity]
		if s.lastOfB {
			if v, ok := r.batches.Load(s.batch.ID); ok && v.(batchRef).firstSeq == s.batchFirst {
				r.batches.Delete(s.batch.ID)
			}
		}
		s.seq, s.batch, s.ev, s.batchFirst, s.lastOfB, s.raw = seq, b, &b.Events[i], start, i == n-1, nil
		for j := range s.outs {
			s.outs[j] = output{}
		}
	}
	r.batches.Store(b.ID, batchRef{firstSeq: start, first: first, n: n - first})
	for _, o := range pending {
		if o.idx >= first {
			r.slots[(start+uint64(o.idx-first))%capacity].outs[o.dest].apply(&o.out)
		}
	}
	r.mu.Unlock()
}

// inRing reports whether seq is still in the ring; r.mu held.
func (r *Recorder) inRing(seq uint64) bool {
	return seq > 0 && seq < r.next && r.next-seq <= uint64(len(r.slots))
}

// Outcome records what a destination did with an event
// (destination.Observer).
func (r *Recorder) Outcome(o destination.Outcome) {
	di, ok := r.destIdx[o.Destination]
	if !ok {
		return
	}
	at := o.At
	if at.IsZero() {
		at = time.Now()
	}
	r.stats[di].add(&o, at)
	if o.Batch == nil || o.Event == nil || o.Status == destination.StatusRetrying {
		return
	}
	out := output{status: statusOf(o.Status), attempts: int32(o.Attempts), at: at.UnixNano(), reason: o.Reason, note: o.Note, payload: o.Payload, redriven: o.Redriven}
	idx := eventIndex(o.Batch, o.Event)
	v, ok := r.batches.Load(o.Batch.ID)
	if !ok {
		if h := r.batchHash(o.Batch.ID); r.seen[h&(seenSlots-1)].Load() == h {
			return // received, and gone from the ring
		}
		// The runner can see a batch before its intake request has told
		// the recorder: keep the outcome for a moment.
		if at.UnixMilli()-o.Batch.ReceivedAt < orphanMaxAgeMs && idx >= 0 && idx >= len(o.Batch.Events)-len(r.slots) {
			r.orphans.add(o.Batch.ID, orphan{idx: idx, dest: di, out: out})
		}
		return
	}
	ref := v.(batchRef)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.inRing(ref.firstSeq) && !r.inRing(ref.firstSeq+uint64(ref.n)-1) {
		return
	}
	capacity := uint64(len(r.slots))
	if i := idx - ref.first; idx >= 0 && i >= 0 && i < ref.n {
		if s := &r.slots[(ref.firstSeq+uint64(i))%capacity]; s.seq == ref.firstSeq+uint64(i) && s.ev.ID == o.Event.ID {
			s.outs[di].apply(&out)
			return
		}
	}
	// A re-driven event comes in a batch of its own: find it by ID.
	for i := range ref.n {
		seq := ref.firstSeq + uint64(i)
		if s := &r.slots[seq%capacity]; s.seq == seq && s.ev.ID == o.Event.ID {
			s.outs[di].apply(&out)
			return
		}
	}
}

// apply merges an outcome: notes add to the pending state, the worse
// status wins, a second delivered message is the extra one.
func (o *output) apply(n *output) {
	if n.redriven && !o.redriven {
		*o = *n
		return
	}
	if n.note != "" {
		o.note = n.note
	}
	if n.status == statusPending { // a note ahead of the outcome
		if o.payload == nil {
			o.payload = n.payload
		}
		return
	}
	if n.status == statusDelivered && o.status == statusDelivered && o.payload != nil {
		o.extra = n.payload
		return
	}
	if n.status >= o.status || o.status == statusPending {
		o.status = n.status
		o.reason = n.reason
		o.attempts = n.attempts
		o.at = n.at
		if n.payload != nil {
			o.payload = n.payload
		}
	}
}

// eventIndex returns e's index in b.Events, or -1 when e is not in it.
func eventIndex(b *statsig.Batch, e *statsig.Event) int {
	if len(b.Events) == 0 {
		return -1
	}
	base := uintptr(unsafe.Pointer(&b.Events[0]))
	p := uintptr(unsafe.Pointer(e))
	size := unsafe.Sizeof(statsig.Event{})
	if p < base || p >= base+uintptr(len(b.Events))*size || (p-base)%size != 0 {
		return -1
	}
	return int((p - base) / size)
}

// record is a copy of a slot taken under the lock for the API.
type record struct {
	seq   uint64
	batch *statsig.Batch
	ev    *statsig.Event
	outs  []output
	raw   []byte
}

// snapshot returns the recorded events newer than after, newest first, at
// most limit (all when ≤ 0), and the seq of the newest event.
func (r *Recorder) snapshot(after uint64, limit int) ([]record, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	head := r.next - 1
	var out []record
	capacity := uint64(len(r.slots))
	for seq := head; seq > after && seq > 0 && head-seq < capacity; seq-- {
		if limit > 0 && len(out) >= limit {
			break
		}
		s := &r.slots[seq%capacity]
		if s.seq != seq {
			break
		}
		out = append(out, record{seq: seq, batch: s.batch, ev: s.ev, outs: append([]output(nil), s.outs...), raw: s.raw})
	}
	return out, head
}

// statuses returns the per-destination statuses of the event at seq, or
// nil when it left the ring.
func (r *Recorder) statuses(seq uint64, dst []uint8) []uint8 {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &r.slots[seq%uint64(len(r.slots))]
	if s.seq != seq {
		return nil
	}
	for _, o := range s.outs {
		dst = append(dst, o.status)
	}
	return dst
}

// outputOf returns the output of the event at seq for destination di.
func (r *Recorder) outputOf(seq uint64, di int) (output, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &r.slots[seq%uint64(len(r.slots))]
	if s.seq != seq {
		return output{}, false
	}
	return s.outs[di], true
}

// keepRaw caches an event's JSON in its slot if it is still there.
func (r *Recorder) keepRaw(seq uint64, raw []byte) {
	r.mu.Lock()
	if s := &r.slots[seq%uint64(len(r.slots))]; s.seq == seq {
		s.raw = raw
	}
	r.mu.Unlock()
}

// counters returns the events received all time and the newest seq.
func (r *Recorder) counters() (received, head uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.received, r.next - 1
}

// orphanMaxAgeMs bounds the age of a batch whose outcomes wait for its
// intake request to report it.
const orphanMaxAgeMs = 10_000

// maxOrphans bounds the outcomes waiting for their batch.
const maxOrphans = 8192

type orphan struct {
	idx, dest int
	out       output
}

// orphans holds outcomes of batches the intake has not reported yet,
// oldest batches dropped first.
type orphans struct {
	count atomic.Int64
	mu    sync.Mutex
	m     map[string][]orphan
	order []string
	n     int
}

func (o *orphans) add(batchID string, x orphan) {
	o.mu.Lock()
	defer o.mu.Unlock()
	list, ok := o.m[batchID]
	if !ok {
		o.order = append(o.order, batchID)
	}
	o.m[batchID] = append(list, x)
	o.n++
	for o.n > maxOrphans && len(o.order) > 0 {
		old := o.order[0]
		o.order = o.order[1:]
		o.n -= len(o.m[old])
		delete(o.m, old)
	}
	o.count.Store(int64(o.n))
}

func (o *orphans) take(batchID string) []orphan {
	o.mu.Lock()
	defer o.mu.Unlock()
	list, ok := o.m[batchID]
	if !ok {
		return nil
	}
	delete(o.m, batchID)
	o.n -= len(list)
	o.count.Store(int64(o.n))
	// order keeps the ID until it reaches the front; a missing entry
	// there frees nothing.
	if len(o.order) > maxOrphans {
		kept := o.order[:0]
		for _, id := range o.order {
			if _, ok := o.m[id]; ok {
				kept = append(kept, id)
			}
		}
		o.order = kept
	}
	return list
}
