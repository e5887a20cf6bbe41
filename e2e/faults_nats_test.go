package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/queue"
	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// natsServerBinary is the nats-server binary the fault suite starts and
// restarts itself (the shared servers are never touched):
// BRIDGE_TEST_NATS_SERVER (.ci/run builds go.mod's), else Debian's.
func natsServerBinary() string {
	if b := os.Getenv("BRIDGE_TEST_NATS_SERVER"); b != "" {
		return b
	}
	return "/usr/sbin/nats-server"
}

// natsProcess is a nats-server process of the test's own, with JetStream
// stored in a directory of the test, on a free loopback port.
type natsProcess struct {
	t      testing.TB
	port   int
	dir    string
	cmd    *exec.Cmd
	output syncBuffer
}

// startNATSProcess starts nats-server -js on a free port, or skips the
// test when the binary is missing.
func startNATSProcess(t testing.TB) *natsProcess {
	t.Helper()
	bin := natsServerBinary()
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("%s not found (set BRIDGE_TEST_NATS_SERVER to a nats-server binary): skipping the external NATS restart fault test", bin)
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v %s", bin, err, out)
	}
	version := strings.TrimPrefix(strings.TrimSpace(string(out)), "nats-server: ")
	if err := queue.CheckServerVersion(bin, version); err != nil {
		t.Skipf("skipping the external NATS restart fault test: the bridge refuses %s (set BRIDGE_TEST_NATS_SERVER to a newer binary, as .ci/run does): %v", bin, err)
	}
	n := &natsProcess{t: t, port: freePort(t), dir: t.TempDir()}
	n.Start()
	t.Cleanup(func() { n.Stop(syscall.SIGKILL) })
	return n
}

// URL is the server's client URL.
func (n *natsProcess) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

// Start runs the server on its port and store directory and waits until
// it accepts connections.
func (n *natsProcess) Start() {
	n.t.Helper()
	n.cmd = exec.Command(natsServerBinary(), "-js", "-sd", n.dir, "-a", "127.0.0.1", "-p", strconv.Itoa(n.port))
	n.cmd.Stdout = &n.output
	n.cmd.Stderr = &n.output
	if err := n.cmd.Start(); err != nil {
		n.t.Fatalf("starting %s: %v", natsServerBinary(), err)
	}
	testwait.For(n.t, 20*time.Second, "nats-server to listen on port "+strconv.Itoa(n.port), func() bool {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", n.port), time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

// Stop ends the server with sig and waits for it; it is a no-op when it
// is not running.
func (n *natsProcess) Stop(sig syscall.Signal) {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	_ = n.cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = n.cmd.Process.Kill()
		<-done
	}
	n.cmd = nil
}

// TestFaultExternalNATSRestart*: the external NATS server under the bridge
// is stopped in the middle of a steady stream (SIGTERM, and SIGKILL) and
// started again 4 s later on the same port and store. While it is down,
// intake answers every request at once with 503 and Retry-After: it does
// not hold SDKs until its store timeout, and it acknowledges nothing it
// could not store. The bridge reconnects by itself, and every event it
// acknowledged, before or after, is delivered.
// (Two tests, not two parallel subtests: a parallel subtest waits for a
// free slot behind every test already waiting, so the longest fault run
// would start last.)
func TestFaultExternalNATSRestartTerminated(t *testing.T) {
	faultExternalNATSRestart(t, syscall.SIGTERM)
}

func TestFaultExternalNATSRestartKilled(t *testing.T) {
	faultExternalNATSRestart(t, syscall.SIGKILL)
}

func faultExternalNATSRestart(t *testing.T, sig syscall.Signal) {
	if testing.Short() {
		t.Skip("a long fault run (NATS stopped for 4 s); go test without -short runs it")
	}
	parallelLong(t) // a server, bridge and sink of its own
	n := startNATSProcess(t)
	s := newSink(t)
	cfg := testConfig(t, s.URL)
	cfg.Log.NATSURL = n.URL()
	cfg.Log.MaxBytes = 64 << 20
	cfg.Log.AckWait = 5 * time.Second // batches whose ack was lost come back soon
	// Longer than the SDKs' patience (3 s here): a request that
	// waits for the store timeout is a request left hanging.
	cfg.Intake.StoreTimeout = 20 * time.Second
	b := startBridge(t, cfg)
	st := startSteady(t, b.URL, 2, 10, 100*time.Millisecond, 3*time.Second)
	st.waitMore(t, 100, 20*time.Second, "before the restart")

	n.Stop(sig)
	down := time.Now()
	st.waitFor(t, 10*time.Second, "5 answers of 503 after NATS went down", func() bool {
		return st.Codes(http.StatusServiceUnavailable) >= 5
	})
	time.Sleep(time.Until(down.Add(4 * time.Second)))
	ackedDown := st.Count()
	n.Start()
	st.waitMore(t, 200, 40*time.Second, "after NATS is back")

	out := checkDelivered(t, "external NATS restarted ("+sig.String()+")", st, s, 60*time.Second)
	st.checkAnsweredAt202Or503(t, "while NATS was down")
	t.Logf("%d events acknowledged when NATS came back; %d answers of 503 while it was down; %d duplicates",
		ackedDown, st.Codes(http.StatusServiceUnavailable), out.Duplicates)
}
