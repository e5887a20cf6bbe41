package debugger

import (
	"bufio"
	"encoding/json"
	"net/http"
	"time"
)

// Live stream timing.
const (
	streamTick    = 100 * time.Millisecond
	streamPing    = 15 * time.Second
	streamStats   = time.Second
	writeDeadline = 10 * time.Second
	// maxWatched bounds the events whose outcomes a client still follows.
	maxWatched = 500
	// Above busyRate received events a second the stream is flushed once a
	// second instead of every tick: the page then renders once a second
	// anyway (live.js BUSY_RATE, BUSY_FLUSH_MS), and each flush wakes the
	// watching browser's network, browser and renderer processes, CPU that a
	// bridge sharing the machine would rather have. Light traffic still
	// shows within a tick.
	busyRate  = 50
	busyFlush = time.Second
)

type outcomeMsg struct {
	ID          string `json:"id"`
	Destination string `json:"destination"`
	Status      string `json:"status"`
	Reason      string `json:"reason,omitempty"`
}

type statsMsg struct {
	ReceivedPerSec uint64 `json:"receivedPerSec"`
	// Dropped counts the new events this client was not sent (sampling
	// above MaxStreamRate, or the client reading too slowly), all time.
	Dropped uint64 `json:"dropped"`
	Sent    uint64 `json:"sent"`
	// Buffered is the events in the recorder's ring.
	Buffered int `json:"buffered"`
}

type watched struct {
	seq      uint64
	id       string
	statuses []uint8
}

// handleStream serves the live view as server-sent events. Nothing on the
// intake path knows about clients: each client's handler reads the ring at
// its own pace, so a slow client only misses events (counted as dropped).
func (d *Debugger) handleStream(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10) // a busy second's sample and outcomes
	flush := func() bool {
		_ = rc.SetWriteDeadline(time.Now().Add(writeDeadline))
		if bw.Flush() != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// Take the starting point before the client learns it is connected: an
	// event it sends right after that must be new to this stream.
	lastReceived, last := d.counters()
	bw.WriteString("retry: 2000\n: connected\n\n")
	if !flush() {
		return
	}
	var (
		sent, dropped uint64
		watch         []watched
		allowance     = float64(d.opts.MaxStreamRate)
		perTick       = float64(d.opts.MaxStreamRate) * streamTick.Seconds()
		statuses      []uint8
		busy          bool
		lastFlush     = time.Now()
	)
	tick := time.NewTicker(streamTick)
	defer tick.Stop()
	ping := time.NewTicker(streamPing)
	defer ping.Stop()
	stats := time.NewTicker(streamStats)
	defer stats.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-d.done:
			return
		case <-ping.C:
			bw.WriteString(": ping\n\n")
		case <-stats.C:
			received, _ := d.counters()
			writeEvent(bw, "stats", statsMsg{ReceivedPerSec: received - lastReceived, Dropped: dropped, Sent: sent, Buffered: d.buffered()})
			busy = received-lastReceived > busyRate
			lastReceived = received
		case <-tick.C:
			allowance = min(allowance+perTick, float64(d.opts.MaxStreamRate))
			recs, head := d.snapshot(last, 0)
			// Events that left the ring before this client read them.
			if head > last && head-last > uint64(len(recs)) {
				dropped += head - last - uint64(len(recs))
			}
			last = head
			// Send an even sample of the new events, oldest first.
			n := len(recs)
			take := min(n, int(allowance))
			dropped += uint64(n - take)
			allowance -= float64(take)
			for k := range take {
				// recs is newest first; pick take of them spread evenly.
				i := n - 1 - (k*n)/take
				rec := &recs[i]
				writeEvent(bw, "event", d.summarize(rec))
				sent++
				st := make([]uint8, len(rec.outs))
				for j, o := range rec.outs {
					st[j] = o.status
				}
				watch = append(watch, watched{seq: rec.seq, id: rec.ev.ID, statuses: st})
			}
			if len(watch) > maxWatched {
				watch = append(watch[:0], watch[len(watch)-maxWatched:]...)
			}
			// Outcomes that changed since they were sent.
			kept := watch[:0]
			for _, wt := range watch {
				statuses = d.statuses(wt.seq, statuses[:0])
				if statuses == nil {
					continue // left the ring
				}
				settled := true
				for j, s := range statuses {
					if s != wt.statuses[j] {
						wt.statuses[j] = s
						o, _ := d.outputOf(wt.seq, j)
						writeEvent(bw, "outcome", outcomeMsg{ID: wt.id, Destination: d.dests[j], Status: statusNames[s], Reason: o.reason})
					}
					if s == statusPending {
						settled = false
					}
				}
				if !settled {
					kept = append(kept, wt)
				}
			}
			watch = kept
		}
		if bw.Buffered() > 0 && (!busy || time.Since(lastFlush) >= busyFlush-streamTick/2) {
			if !flush() {
				return
			}
			lastFlush = time.Now()
		}
	}
}

func writeEvent(bw *bufio.Writer, name string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	bw.WriteString("event: ")
	bw.WriteString(name)
	bw.WriteString("\ndata: ")
	bw.Write(b)
	bw.WriteString("\n\n")
}

// buffered is the number of events in the ring.
func (r *Recorder) buffered() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return int(min(r.next-1, uint64(len(r.slots))))
}
