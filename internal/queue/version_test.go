package queue

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

func TestCheckServerVersion(t *testing.T) {
	for _, c := range []struct {
		version string
		refused bool
	}{
		{"2.9.10", true}, // Debian 12's: a purge clears every consumer's pending batches
		{"2.9.14", true},
		{"2.8.4", true},
		{"1.99.99", true},
		{"2.9.15", false},
		{"2.9.16", false},
		{"2.10.0", false},
		{"2.15.2", false},
		{"3.0.0", false},
		{"2.11.0-RC.1", false},
		{"v2.9.10", true},
		{"", false},        // unknown: not placed, not refused
		{"nightly", false}, // a build the check cannot place
	} {
		err := CheckServerVersion("nats://h:4222", c.version)
		if (err != nil) != c.refused {
			t.Errorf("%q: refused %v, want %v (%v)", c.version, err != nil, c.refused, err)
			continue
		}
		if err == nil {
			continue
		}
		if !errors.Is(err, ErrServerTooOld) {
			t.Errorf("%q: error not ErrServerTooOld: %v", c.version, err)
		}
		for _, want := range []string{c.version, MinServerVersion, "nats://h:4222", "acknowledged events can be lost when a bridge dies"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%q: error %q does not name %q", c.version, err, want)
			}
		}
	}
}

// TestOpenRefusesOldServer opens the log on BRIDGE_TEST_OLD_NATS_URL (CI:
// Debian's nats-server 2.9.10 on 127.0.0.1:4222) and expects the refusal
// naming the server's version and the minimum; it creates nothing there.
func TestOpenRefusesOldServer(t *testing.T) {
	url := os.Getenv("BRIDGE_TEST_OLD_NATS_URL")
	if url == "" {
		t.Skip("BRIDGE_TEST_OLD_NATS_URL is not set: set it to a nats-server older than " + MinServerVersion + " (e.g. Debian 12's 2.9.10) to test that the log refuses it")
	}
	cfg := Config{URL: url, Stream: "TEST_REFUSED_" + strings.ToUpper(randomID(t)), Subject: "test.refused." + randomID(t)}
	l, err := Open(context.Background(), cfg, nil)
	if err == nil {
		l.Close()
		t.Skipf("the server at BRIDGE_TEST_OLD_NATS_URL is %s or later: nothing to refuse", MinServerVersion)
	}
	if !errors.Is(err, ErrServerTooOld) {
		t.Fatalf("Open on an old server: %v, want ErrServerTooOld", err)
	}
	if !strings.Contains(err.Error(), "older than "+MinServerVersion) {
		t.Errorf("error %q does not name the minimum", err)
	}
	t.Logf("refused: %v", err)
}

// TestOpenRefusesClusterWithOldNode clusters an in-process nats-server of
// this module's version with an old nats-server binary
// (BRIDGE_TEST_OLD_NATS_SERVER, CI: Debian's 2.9.10) and opens the log on
// the new node only: the old node, known only through the cluster's
// announcement, is found and refused.
func TestOpenRefusesClusterWithOldNode(t *testing.T) {
	bin := os.Getenv("BRIDGE_TEST_OLD_NATS_SERVER")
	if bin == "" {
		t.Skip("BRIDGE_TEST_OLD_NATS_SERVER is not set: set it to a nats-server binary older than " + MinServerVersion + " (e.g. Debian 12's /usr/sbin/nats-server) to test a mixed cluster")
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v %s", bin, err, out)
	}
	if CheckServerVersion(bin, strings.TrimPrefix(strings.TrimSpace(string(out)), "nats-server: ")) == nil {
		t.Skipf("%s is %s: not older than %s", bin, strings.TrimSpace(string(out)), MinServerVersion)
	}
	newRoute, oldRoute, oldClient := freeLoopbackPort(t), freeLoopbackPort(t), freeLoopbackPort(t)
	ns, err := server.NewServer(&server.Options{
		ServerName: "new", Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true,
		Cluster: server.ClusterOpts{Name: "mixed", Host: "127.0.0.1", Port: newRoute},
		Routes:  server.RoutesFromStr(fmt.Sprintf("nats://127.0.0.1:%d", oldRoute)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("in-process nats-server not ready")
	}
	// A client connected before the old node joins learns of it from the
	// cluster's announcement, as the log's connection does, and the verdict
	// clears when the old node is gone.
	g := newVersionGuard(nil, testLogger(t))
	g.every = 50 * time.Millisecond
	nc, err := nats.Connect(ns.ClientURL(), nats.DiscoveredServersHandler(func(*nats.Conn) { g.poke() }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := g.checkAll(nc); err != nil {
		t.Fatalf("the new node alone: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	checking := make(chan struct{})
	go func() { defer close(checking); g.run(ctx, nc) }()
	defer func() { cancel(); <-checking }()
	old := exec.Command(bin, "-a", "127.0.0.1", "-p", fmt.Sprint(oldClient), "-n", "old",
		"--cluster_name", "mixed", "--cluster", fmt.Sprintf("nats://127.0.0.1:%d", oldRoute),
		"--routes", fmt.Sprintf("nats://127.0.0.1:%d", newRoute))
	if err := old.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = old.Process.Kill(); _ = old.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for ns.NumRoutes() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the two nats-servers did not form a cluster within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for g.verdict() == nil {
		if time.Now().After(deadline) {
			t.Fatal("a connected client did not find the old node that joined within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, err = Open(context.Background(), Config{URL: ns.ClientURL()}, nil)
	if !errors.Is(err, ErrServerTooOld) {
		t.Fatalf("Open on a cluster with an old node: %v, want ErrServerTooOld", err)
	}
	if want := fmt.Sprintf("127.0.0.1:%d", oldClient); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name the old node %s", err, want)
	}
	t.Logf("refused: %v", err)

	_ = old.Process.Kill()
	_ = old.Wait()
	testwait.For(t, 20*time.Second, "the verdict to clear once the old node is gone", func() bool { return g.verdict() == nil })
}

// freeLoopbackPort is a loopback TCP port nobody listens on now.
func freeLoopbackPort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
