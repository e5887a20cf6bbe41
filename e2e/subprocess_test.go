package e2e

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// waitingTestsAtOnce is how many of the parallel tests (parallel,
// parallelLong) run at once when -parallel is not given. Those tests spend
// their time waiting (on deliveries, retries, timeouts, a browser), not
// computing, so more of them than the machine has cores overlap their
// waits; the tests that load the machine or bound a duration from above
// stay serial (neither) and run alone before them.
const waitingTestsAtOnce = 8

// goParallelUnbounded is the -test.parallel TestMain sets when none is
// given: more than the package has parallel tests, so that Go releases
// them all and testTurns alone decides which run (see turns_test.go).
const goParallelUnbounded = 1000

// TestMain runs the package's tests, waitingTestsAtOnce parallel ones at
// once and long ones first (unless -parallel is given; see turns_test.go),
// while the bridge binary for the subprocess tests is built beside them;
// then it closes the Chromium the browser tests shared and removes the
// binary.
func TestMain(m *testing.M) {
	flag.Parse()
	parallelGiven := false
	flag.Visit(func(f *flag.Flag) { parallelGiven = parallelGiven || f.Name == "test.parallel" })
	if parallelGiven {
		n, err := strconv.Atoi(flag.Lookup("test.parallel").Value.String())
		if err != nil || n < 1 {
			fmt.Fprintln(os.Stderr, "-test.parallel must be a positive number")
			os.Exit(2)
		}
		testTurns.free = n
	} else if err := flag.Set("test.parallel", strconv.Itoa(goParallelUnbounded)); err != nil {
		fmt.Fprintln(os.Stderr, "setting -test.parallel:", err)
		os.Exit(2)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go bridgeBin.build(ctx)
	code := m.Run()
	closeSharedBrowser()
	cancel() // a build that no test waited for is stopped
	<-bridgeBin.done
	if bridgeBin.dir != "" {
		os.RemoveAll(bridgeBin.dir)
	}
	os.Exit(code)
}

// builtBinary is cmd/statsig-bridge built once per test run into a temp
// dir. TestMain starts the build at once: the link takes seconds of CPU,
// and started when the first subprocess test asked for it, it lengthened
// that test and every serial one after it by as much; started first, it
// overlaps the tests that run the bridge in this process.
type builtBinary struct {
	done chan struct{} // closed when the build has ended
	dir  string
	path string
	err  error
}

var bridgeBin = builtBinary{done: make(chan struct{})}

// build runs go build until it ends or ctx does, then closes b.done.
func (b *builtBinary) build(ctx context.Context) {
	defer close(b.done)
	goTool, err := exec.LookPath("go")
	if err != nil {
		b.err = fmt.Errorf("finding the go tool: %w", err)
		return
	}
	out, err := exec.CommandContext(ctx, goTool, "env", "GOMOD").Output()
	if err != nil {
		b.err = fmt.Errorf("go env GOMOD: %w", err)
		return
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	if b.dir, err = os.MkdirTemp("", "statsig-bridge-e2e-"); err != nil {
		b.err = err
		return
	}
	b.path = filepath.Join(b.dir, "statsig-bridge")
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", b.path, "./cmd/statsig-bridge")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		b.err = fmt.Errorf("go build ./cmd/statsig-bridge: %w\n%s", err, out)
	}
}

// bridgeBinary waits for the build TestMain started and returns the
// binary's path: the crash and shutdown tests need a real process to kill.
func bridgeBinary(t testing.TB) string {
	t.Helper()
	<-bridgeBin.done
	if bridgeBin.err != nil {
		t.Fatal(bridgeBin.err)
	}
	return bridgeBin.path
}

// freeAddr returns a loopback address with a port nobody listens on now,
// so that a restarted bridge can come back on the same address.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// refusedAddr is a loopback address that refuses connections until the
// test ends: a socket bound to it and never listening holds the port. A
// port found free by freeAddr and closed again can be taken by another
// test's listener before it is used (a "nothing listens" check then
// connected, once, in a full test run).
func refusedAddr(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("binding a loopback port: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatalf("getsockname: %v", err)
	}
	return fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}

// process is a bridge running as `statsig-bridge serve` in a subprocess.
type process struct {
	URL  string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{} // closed when the process has exited
	err  error         // from Wait, valid after done
}

// syncBuffer collects a subprocess's output for the test log.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startProcess runs `statsig-bridge serve` with env (on top of PATH and
// HOME only, so the developer's BRIDGE_* settings do not leak in) and waits
// until /readyz answers 200. The process is killed when the test ends if
// it is still running; its output is logged when the test failed.
func startProcess(t testing.TB, env map[string]string) *process {
	t.Helper()
	return startProcessArgs(t, env)
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process.
func (p *process) Signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signalling bridge process: %v", err)
	}
}

// Wait waits up to limit for the process to exit and returns how.
func (p *process) Wait(t testing.TB, limit time.Duration) syscall.WaitStatus {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(limit):
		t.Fatalf("bridge process did not exit within %s", limit)
	}
	var exitErr *exec.ExitError
	if p.err != nil && !errors.As(p.err, &exitErr) {
		t.Fatalf("waiting for bridge process: %v", p.err)
	}
	return p.cmd.ProcessState.Sys().(syscall.WaitStatus)
}

// StopGracefully sends sig (SIGTERM or SIGINT) and asserts the shutdown
// requirement: the process exits within 10 s, with code 0.
func (p *process) StopGracefully(t testing.TB, sig os.Signal) {
	t.Helper()
	begin := time.Now()
	p.Signal(t, sig)
	ws := p.Wait(t, 10*time.Second)
	if ws.Signaled() || ws.ExitStatus() != 0 {
		t.Fatalf("after %s the bridge exited with %v (code %d), want code 0\n%s", sig, ws, ws.ExitStatus(), p.out.String())
	}
	t.Logf("%s: bridge exited with code 0 after %s", sig, time.Since(begin).Round(time.Millisecond))
}

// processEnv is the environment of a bridge subprocess delivering to s.
func processEnv(addr, dataDir string, s *sink) map[string]string {
	return map[string]string{
		"BRIDGE_LISTEN":     addr,
		"BRIDGE_DATA_DIR":   dataDir,
		"BRIDGE_LOG_LEVEL":  processLogLevel(),
		"SEGMENT_WRITE_KEY": s.WriteKey,
		"SEGMENT_ENDPOINT":  s.URL,
		// Batches the killed process held come back quickly after restart.
		"BRIDGE_ACK_WAIT": "2s",
	}
}

// processLogLevel is debug when BRIDGE_TEST_LOG=debug, info otherwise; the
// output is shown only for failed tests.
func processLogLevel() string {
	if os.Getenv("BRIDGE_TEST_LOG") == "debug" {
		return "debug"
	}
	return "info"
}
