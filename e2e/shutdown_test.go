package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// TestShutdownFinishesRequestInFlight sends SIGTERM while a request is
// half sent: the bridge must stop accepting connections, yet answer the
// request in flight with 202 (its events stored), exit with code 0 within
// 10 s, and deliver those events (at the latest after the next start).
func TestShutdownFinishesRequestInFlight(t *testing.T) {
	s := newSink(t)
	addr := freeAddr(t)
	env := processEnv(addr, t.TempDir(), s)
	p := startProcess(t, env)

	body, markers := sdkBody(0, 0, 20)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Expect: 100-continue tells us when the handler has begun reading the
	// body: from then on the request is in flight inside the bridge.
	head := fmt.Sprintf("POST /v1/log_event HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"+
		"STATSIG-API-KEY: client-e2e-key\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", addr, len(body))
	if _, err := conn.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	status, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 100 ") {
		t.Fatalf("want 100 Continue, got %q %v", status, err)
	}
	for line := ""; line != "\r\n"; {
		if line, err = br.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	half := len(body) / 2
	if _, err := conn.Write(body[:half]); err != nil {
		t.Fatal(err)
	}

	p.Signal(t, syscall.SIGTERM)
	signalled := time.Now()
	// Stop accepting: new connections are refused while the process is
	// still alive, waiting for the request in flight.
	testwait.For(t, 5*time.Second, "the listener to close after SIGTERM", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	if p.exited() {
		t.Fatalf("bridge exited without finishing the request in flight:\n%s", p.out.String())
	}

	if _, err := conn.Write(body[half:]); err != nil {
		t.Fatalf("finishing the request in flight: %v", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the answer to the request in flight: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("request in flight during shutdown answered %d, want 202", resp.StatusCode)
	}

	ws := p.Wait(t, 10*time.Second-time.Since(signalled))
	if ws.Signaled() || ws.ExitStatus() != 0 {
		t.Fatalf("after SIGTERM the bridge exited with %v (code %d), want code 0", ws, ws.ExitStatus())
	}

	want := map[string]bool{}
	for _, m := range markers {
		want[m] = true
	}
	if n, _ := deliveries(s).missing(want); n > 0 {
		// Stored but not yet delivered when the bridge stopped: the next
		// start delivers them.
		t.Logf("%d of %d events were still in the log at exit; restarting", n, len(want))
		again := startProcess(t, env)
		defer again.StopGracefully(t, syscall.SIGTERM)
	}
	d := waitDelivered(t, s, want, 15*time.Second)
	if dups := d.checkCopies(t); dups > 0 {
		t.Errorf("%d duplicates after a graceful shutdown", dups)
	}
}

// TestShutdownUnderLoadSendsNoDuplicates stops the bridge with SIGINT under
// load while deliveries are in flight. A graceful stop finishes the
// deliveries it started and acks them, so after a restart every
// acknowledged event arrives and none arrives twice.
func TestShutdownUnderLoadSendsNoDuplicates(t *testing.T) {
	s, env, first, l := processUnderLoad(t, 200)
	first.StopGracefully(t, syscall.SIGINT)
	atStop, deliveredAtStop := l.Batches(), s.Unique()

	second, _, d, dups := restartUnderLoad(t, env, s, l, 50)
	t.Logf("%d requests acknowledged (%d before the stop, %d attempts failed); %d events at the sink at the stop, %d in the end",
		l.Batches(), atStop, l.Failures(), deliveredAtStop, len(d))
	if dups > 0 {
		t.Errorf("%d events delivered twice although the bridge stopped gracefully", dups)
	}
	second.StopGracefully(t, syscall.SIGTERM)
}

// TestShutdownWithinTenSecondsWhileSegmentHangs stops the bridge while
// Segment does not answer at all: the bridge must still exit within 10 s
// with code 0, leaving the undelivered events in the log for the next start.
func TestShutdownWithinTenSecondsWhileSegmentHangs(t *testing.T) {
	s := newSink(t)
	var hang atomic.Bool
	hang.Store(true)
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock) // runs before the sink closes, which waits for its handlers
	var hanging atomic.Int32
	s.Respond(func(*http.Request, int) (int, http.Header) {
		if hang.Load() {
			hanging.Add(1)
			<-release
		}
		return http.StatusOK, nil
	})
	env := processEnv(freeAddr(t), t.TempDir(), s)
	first := startProcess(t, env)
	sent := postLoad(t, first.URL, 3, 50)
	testwait.For(t, 10*time.Second, "a delivery hanging at the sink", func() bool {
		return hanging.Load() > 0
	})
	first.StopGracefully(t, syscall.SIGTERM)

	hang.Store(false)
	unblock()
	second := startProcess(t, env)
	d := waitDelivered(t, s, sent, 15*time.Second)
	d.checkCopies(t)
	second.StopGracefully(t, syscall.SIGTERM)
}
