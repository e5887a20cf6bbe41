package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// The fault suite (faults_*_test.go) runs each fault while a steady stream
// of valid SDK requests is posted to the bridge, and then checks the same
// things every time: each event acknowledged with a 2xx reaches the sink,
// copies of an event share its messageId, intake answered as it should
// throughout, and delivery resumed after the fault.

// target is a destination whose behaviour a test changes while the bridge
// delivers to it: it stands in front of a sink on a fixed loopback port,
// so it can stop listening (connections refused) and listen again on the
// same address, and it can answer slowly or with an error code instead of
// passing requests on.
type target struct {
	t    testing.TB
	sink *sink
	addr string
	URL  string

	mu     sync.Mutex
	srv    *http.Server
	answer func(r *http.Request) (wait time.Duration, code int, header http.Header)

	closing  chan struct{} // ends slow answers when the test is over
	requests atomic.Int64  // requests that reached the target
	refused  atomic.Int64  // times the listener was closed
}

// newTarget starts a target passing every request to s.
func newTarget(t testing.TB, s *sink) *target {
	t.Helper()
	tg := &target{t: t, sink: s, addr: freeAddr(t), closing: make(chan struct{})}
	tg.URL = "http://" + tg.addr
	tg.Up()
	t.Cleanup(func() {
		close(tg.closing)
		tg.Down()
	})
	return tg
}

// Answer sets how the target answers: wait, then either pass the request
// to the sink (code 0) or answer code with header itself. nil passes every
// request on at once.
func (tg *target) Answer(f func(r *http.Request) (wait time.Duration, code int, header http.Header)) {
	tg.mu.Lock()
	tg.answer = f
	tg.mu.Unlock()
}

// Healthy passes every request on at once.
func (tg *target) Healthy() { tg.Answer(nil) }

// Up listens on the target's address again (a no-op when listening).
func (tg *target) Up() {
	tg.t.Helper()
	tg.mu.Lock()
	defer tg.mu.Unlock()
	if tg.srv != nil {
		return
	}
	var ln net.Listener
	var err error
	// The port was ours a moment ago; the kernel may take a moment to let
	// it go.
	for range 100 {
		if ln, err = net.Listen("tcp", tg.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		tg.t.Errorf("listening again on %s: %v", tg.addr, err)
		return
	}
	srv := &http.Server{Handler: http.HandlerFunc(tg.serve)}
	tg.srv = srv
	go srv.Serve(ln)
}

// Down closes the listener and every open connection: new connections are
// refused and requests in flight are cut off without an answer.
func (tg *target) Down() {
	tg.mu.Lock()
	srv := tg.srv
	tg.srv = nil
	tg.mu.Unlock()
	if srv != nil {
		srv.Close()
		tg.refused.Add(1)
	}
}

func (tg *target) serve(w http.ResponseWriter, r *http.Request) {
	tg.requests.Add(1)
	tg.mu.Lock()
	answer := tg.answer
	tg.mu.Unlock()
	if answer == nil {
		tg.sink.serve(w, r)
		return
	}
	wait, code, header := answer(r)
	if wait > 0 {
		// The target goes on working after the client gave up, like a
		// real service: a batch it then accepts was delivered although
		// the bridge never heard so, and the bridge sends it again.
		select {
		case <-time.After(wait):
		case <-tg.closing:
			return
		}
	}
	if code == 0 {
		tg.sink.serve(w, r)
		return
	}
	_, _ = io.Copy(io.Discard, r.Body)
	for k, v := range header {
		w.Header()[k] = v
	}
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"success":false,"error":"fault injected: HTTP %d"}`, code)
}

// steady posts SDK requests to the bridge at a steady pace from a few
// workers, as SDKs do: a request without a 2xx is sent again, byte for
// byte, after the Retry-After it was given (capped) or a short pause. It
// records every answer, and which events were acknowledged: only those
// must be delivered.
type steady struct {
	base    string
	client  *http.Client
	every   time.Duration
	perPost int
	pad     int // bytes of padding in each event's metadata
	stop    chan struct{}
	wg      sync.WaitGroup

	mu         sync.Mutex
	acked      map[string]bool
	codes      map[int]int    // answers by status code
	lastBody   map[int]string // the last answer's body, by status code
	noAnswer   int            // requests that got no answer (client timeout, connection error)
	noRetry503 int            // 503 answers without Retry-After
	slowest    time.Duration
	lastErr    error
}

// startSteady starts workers that each post a request of perPost events
// every interval, with a client that gives up on a request after
// clientTimeout.
func startSteady(t testing.TB, base string, workers, perPost int, every, clientTimeout time.Duration) *steady {
	return startSteadyPadded(t, base, workers, perPost, 0, every, clientTimeout)
}

// startSteadyPadded is startSteady with pad bytes of padding in each
// event, to fill a disk sooner.
func startSteadyPadded(t testing.TB, base string, workers, perPost, pad int, every, clientTimeout time.Duration) *steady {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	st := &steady{base: base, client: &http.Client{Timeout: clientTimeout, Transport: tr}, every: every,
		perPost: perPost, pad: pad, stop: make(chan struct{}), acked: map[string]bool{}, codes: map[int]int{}, lastBody: map[int]string{}}
	for w := range workers {
		st.wg.Add(1)
		go st.run(w)
	}
	t.Cleanup(st.Stop)
	return st
}

func (st *steady) stopped() bool {
	select {
	case <-st.stop:
		return true
	default:
		return false
	}
}

func (st *steady) run(worker int) {
	defer st.wg.Done()
	tick := time.NewTicker(st.every)
	defer tick.Stop()
	// Workers 1000+ keep markers apart from other loads in the same test.
	for n := 0; !st.stopped(); n++ {
		body, markers := sdkBody(1000+worker, n, st.perPost)
		if st.pad > 0 {
			// Random per event: the log stores batches compressed, and
			// repeated padding would take no room on its disk.
			parts := bytes.Split(body, []byte(`"metadata":{"seq":`))
			var padded bytes.Buffer
			for i, p := range parts {
				if i > 0 {
					padded.WriteString(`"metadata":{"pad":"` + randomHex(st.pad) + `","seq":`)
				}
				padded.Write(p)
			}
			body = padded.Bytes()
		}
		for attempt := 0; attempt < 20 && !st.stopped(); attempt++ {
			code, retryAfter := st.post(body)
			if code/100 == 2 {
				st.mu.Lock()
				for _, m := range markers {
					st.acked[m] = true
				}
				st.mu.Unlock()
				break
			}
			pause := 100 * time.Millisecond
			if retryAfter > 0 {
				pause = min(retryAfter, time.Second)
			}
			select {
			case <-st.stop:
			case <-time.After(pause):
			}
		}
		select {
		case <-st.stop:
		case <-tick.C:
		}
	}
}

// post sends one request and records the answer.
func (st *steady) post(body []byte) (code int, retryAfter time.Duration) {
	start := time.Now()
	req, err := http.NewRequest(http.MethodPost, st.base+"/v1/log_event", strings.NewReader(string(body)))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("STATSIG-API-KEY", "client-e2e-key")
	resp, err := st.client.Do(req)
	took := time.Since(start)
	st.mu.Lock()
	defer st.mu.Unlock()
	st.slowest = max(st.slowest, took)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			st.noAnswer++
			st.lastErr = err
		}
		return 0, 0
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	st.codes[resp.StatusCode]++
	st.lastBody[resp.StatusCode] = string(answer)
	if resp.StatusCode == http.StatusServiceUnavailable {
		ra := resp.Header.Get("Retry-After")
		if ra == "" {
			st.noRetry503++
		}
		var s int
		fmt.Sscan(ra, &s)
		retryAfter = time.Duration(s) * time.Second
	}
	return resp.StatusCode, retryAfter
}

// Stop ends the stream and waits for the workers; it is idempotent.
func (st *steady) Stop() {
	st.mu.Lock()
	if !st.stopped() {
		close(st.stop)
	}
	st.mu.Unlock()
	st.wg.Wait()
	st.client.CloseIdleConnections()
}

// Acked returns the acknowledged markers.
func (st *steady) Acked() map[string]bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make(map[string]bool, len(st.acked))
	for m := range st.acked {
		out[m] = true
	}
	return out
}

// Count returns the acknowledged events so far.
func (st *steady) Count() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.acked)
}

// Codes returns how many answers had code.
func (st *steady) Codes(code int) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.codes[code]
}

// LastBody is the body of the last answer with code.
func (st *steady) LastBody(code int) string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.lastBody[code]
}

// Answers describes the answers so far, e.g. "202×310 503×12, 0 without
// an answer".
func (st *steady) Answers() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	var codes []int
	for c := range st.codes {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d×%d", c, st.codes[c]))
	}
	s := strings.Join(parts, " ") + fmt.Sprintf(", %d without an answer", st.noAnswer)
	if st.lastErr != nil {
		s += fmt.Sprintf(" (last: %v)", st.lastErr)
	}
	return s + fmt.Sprintf(", slowest answer %s", st.slowest.Round(time.Millisecond))
}

// waitMore waits until n more events are acknowledged.
func (st *steady) waitMore(t testing.TB, n int, timeout time.Duration, what string) {
	t.Helper()
	from := st.Count()
	st.waitFor(t, timeout, fmt.Sprintf("%d more acknowledged events %s", n, what), func() bool { return st.Count() >= from+n })
}

// waitFor is testwait.For that also shows the intake answers when it
// gives up: those of that moment, not of when the wait began.
func (st *steady) waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	waited := false
	defer func() {
		if !waited {
			t.Logf("intake answers when the wait for %s ended: %s", what, st.Answers())
		}
	}()
	testwait.For(t, timeout, fmt.Sprintf("%s (intake answers when the wait began: %s)", what, st.Answers()), cond)
	waited = true
}

// checkAnsweredAt202Or503 asserts that during a fault of the log (what
// says which) intake answered every request within the client's patience,
// with 202 or with 503 and Retry-After: it neither holds an SDK until its
// store timeout nor acknowledges what it could not store.
func (st *steady) checkAnsweredAt202Or503(t testing.TB, what string) {
	t.Helper()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.noAnswer > 0 {
		t.Errorf("%d intake requests got no answer within %s %s (last: %v)", st.noAnswer, st.client.Timeout, what, st.lastErr)
	}
	if st.noRetry503 > 0 {
		t.Errorf("%d answers of 503 without Retry-After %s", st.noRetry503, what)
	}
	for code, k := range st.codes {
		if code != http.StatusAccepted && code != http.StatusServiceUnavailable {
			t.Errorf("intake answered %d %d times %s (last: %s)", code, k, what, st.lastBody[code])
		}
	}
}

// checkIntakeAlways202 asserts that intake acknowledged every request:
// a destination's trouble is no business of the SDKs.
func (st *steady) checkIntakeAlways202(t testing.TB) {
	t.Helper()
	st.mu.Lock()
	defer st.mu.Unlock()
	for code, n := range st.codes {
		if code != http.StatusAccepted {
			t.Errorf("intake answered %d %d times while only the destination was at fault", code, n)
		}
	}
	if st.noAnswer > 0 {
		t.Errorf("intake left %d requests without an answer (last: %v)", st.noAnswer, st.lastErr)
	}
}

// faultOutcome is what a fault test measured, for its log line and the
// final report.
type faultOutcome struct {
	Acked, Delivered, Duplicates int
}

// checkDelivered stops the stream, waits until every acknowledged event
// is at the sink, checks that copies of an event share its messageId, and
// logs the numbers.
func checkDelivered(t testing.TB, name string, st *steady, s *sink, timeout time.Duration) faultOutcome {
	t.Helper()
	st.Stop()
	acked := st.Acked()
	if len(acked) == 0 {
		t.Fatalf("%s: intake acknowledged no event (answers: %s)", name, st.Answers())
	}
	d := waitDelivered(t, s, acked, timeout)
	dups := d.checkCopies(t)
	out := faultOutcome{Acked: len(acked), Delivered: len(d), Duplicates: dups}
	t.Logf("%s: %d events acknowledged, %d distinct delivered, %d duplicates (same messageId); intake answers: %s",
		name, out.Acked, out.Delivered, out.Duplicates, st.Answers())
	return out
}

// randomHex is n random hex digits: padding no compressor shrinks by much
// (S2, the log's, not at all).
func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	rand.Read(b)
	return hex.EncodeToString(b)[:n]
}
