package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/statsig-bridge/statsig-bridge/internal/config"
	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// natsCluster is a JetStream cluster of nats-server instances running in the
// test process, each with its own client port, route port and store.
type natsCluster struct {
	servers []*server.Server
}

// startNATSCluster starts n clustered JetStream servers on loopback with
// free ports (never 4222), routes between all of them, and waits until the
// cluster has elected a meta leader. They are shut down when the test ends.
func startNATSCluster(t testing.TB, n int) *natsCluster {
	t.Helper()
	routePorts := make([]int, n)
	var routes []*url.URL
	for i := range routePorts {
		routePorts[i] = freePort(t)
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", routePorts[i])})
	}
	// The store directory first: cleanups run last-registered first, so
	// the servers stop before their directory is removed (the other way
	// round a node still writing made RemoveAll fail the test).
	storeDir := t.TempDir()
	c := &natsCluster{}
	t.Cleanup(c.shutdown)
	// The servers' notices, warnings and errors (leader elections, a
	// consumer's state reset), shown if the test fails: registered after
	// shutdown, so they run before it and the log is complete up to there.
	logs := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the NATS servers' log:\n%s", logs.String())
		}
	})
	for i := range n {
		opts := &server.Options{
			ServerName:         fmt.Sprintf("e2e-n%d", i+1),
			Host:               "127.0.0.1",
			Port:               server.RANDOM_PORT,
			NoSigs:             true,
			NoLog:              true,
			JetStream:          true,
			StoreDir:           filepath.Join(storeDir, fmt.Sprintf("n%d", i+1)),
			JetStreamMaxStore:  1 << 30,
			JetStreamMaxMemory: 64 << 20,
			MaxPayload:         17 << 20, // the bridge's 16 MiB batches plus headers
			Cluster: server.ClusterOpts{
				Name: "e2e-cluster",
				Host: "127.0.0.1",
				Port: routePorts[i],
			},
			Routes: routes,
		}
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatalf("creating nats-server %s: %v", opts.ServerName, err)
		}
		if os.Getenv("BRIDGE_TEST_LOG") == "debug" {
			s.ConfigureLogger()
		} else {
			s.SetLoggerV2(natsLog{name: opts.ServerName, w: logs}, false, false, false)
		}
		s.Start()
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatalf("nats-server %s not ready for connections after 10s", opts.ServerName)
		}
		c.servers = append(c.servers, s)
	}
	testwait.For(t, 20*time.Second, "a JetStream meta leader", func() bool { return c.metaLeader() != nil })
	testwait.For(t, 10*time.Second, "3 JetStream peers known to the meta leader", func() bool {
		l := c.metaLeader()
		return l != nil && len(l.JetStreamClusterPeers()) == n
	})
	return c
}

// natsLog writes a nats-server's log lines, debug and trace left out.
type natsLog struct {
	name string
	w    *syncBuffer
}

func (l natsLog) line(level, format string, v ...any) {
	fmt.Fprintf(l.w, "%s %s [%s] %s\n", time.Now().Format("15:04:05.000"), l.name, level, fmt.Sprintf(format, v...))
}
func (l natsLog) Noticef(format string, v ...any) { l.line("INF", format, v...) }
func (l natsLog) Warnf(format string, v ...any)   { l.line("WRN", format, v...) }
func (l natsLog) Fatalf(format string, v ...any)  { l.line("FTL", format, v...) }
func (l natsLog) Errorf(format string, v ...any)  { l.line("ERR", format, v...) }
func (l natsLog) Debugf(string, ...any)           {}
func (l natsLog) Tracef(string, ...any)           {}

// freePort is a loopback TCP port nobody listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	addr := freeAddr(t)
	_, port, _ := strings.Cut(addr, ":")
	var p int
	fmt.Sscan(port, &p)
	if p == 4222 {
		return freePort(t) // the shared NATS server's port, never ours
	}
	return p
}

func (c *natsCluster) metaLeader() *server.Server {
	for _, s := range c.servers {
		if s.Running() && s.JetStreamIsLeader() {
			return s
		}
	}
	return nil
}

// URLs is the comma-separated client URLs of every server.
func (c *natsCluster) URLs() string {
	var urls []string
	for _, s := range c.servers {
		urls = append(urls, s.ClientURL())
	}
	return strings.Join(urls, ",")
}

// streamLeader is the server leading stream's Raft group, or nil.
func (c *natsCluster) streamLeader(stream string) *server.Server {
	for _, s := range c.servers {
		if s.Running() && s.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
			return s
		}
	}
	return nil
}

func (c *natsCluster) shutdown() {
	for _, s := range c.servers {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

// clusterBridgeConfig is a bridge on the cluster delivering to s, with the
// stream replicated on three nodes.
func clusterBridgeConfig(t testing.TB, c *natsCluster, s *sink, id string) *config.Config {
	t.Helper()
	cfg := testConfig(t, s.URL)
	cfg.Log.NATSURL = c.URLs()
	cfg.Log.Replicas = 3
	cfg.Log.MaxBytes = 64 << 20
	cfg.Log.DeadLetterMaxBytes = 16 << 20
	cfg.Log.Stream = "E2E_CLUSTER_" + id
	cfg.Log.Subject = "e2e.cluster." + id
	cfg.Log.DeadLetterStream = "E2E_CLUSTER_DL_" + id
	cfg.Log.DeadLetterSubject = "e2e.cluster.dl." + id
	// Batches a stopped bridge held come back to the survivor quickly.
	cfg.Log.AckWait = 2 * time.Second
	return cfg
}

// startLoadWorkers is startLoad with worker numbers from first, so that two
// loads' markers (and bodies) never collide.
func startLoadWorkers(t testing.TB, base string, first, workers, perBatch int) *load {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	l := &load{base: base, client: &http.Client{Timeout: 10 * time.Second, Transport: tr},
		stop: make(chan struct{}), acked: map[string]bool{}}
	for w := range workers {
		l.wg.Add(1)
		go l.run(first+w, perBatch)
	}
	t.Cleanup(l.Stop)
	return l
}

// logClusterOnFailure logs, if the test fails, what the surviving nodes
// say about the events stream and each destination's consumer: a loss
// shows there as batches the consumer counts delivered but never acked or
// redelivered, or as a stream shorter than what was published.
func logClusterOnFailure(t *testing.T, c *natsCluster, cfg *config.Config) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		var urls []string
		for _, s := range c.servers {
			if s.Running() {
				urls = append(urls, s.ClientURL())
			}
		}
		nc, err := nats.Connect(strings.Join(urls, ","), nats.Name("statsig-bridge-e2e-diagnostics"))
		if err != nil {
			t.Logf("cluster state: connecting: %v", err)
			return
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			t.Logf("cluster state: %v", err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, err := js.Stream(ctx, cfg.Log.Stream)
		if err != nil {
			t.Logf("cluster state: stream %s: %v", cfg.Log.Stream, err)
			return
		}
		si := st.CachedInfo()
		var replicas []string
		for _, r := range si.Cluster.Replicas {
			replicas = append(replicas, fmt.Sprintf("%s(current %v, lag %d)", r.Name, r.Current, r.Lag))
		}
		t.Logf("cluster state: stream %s: %d msgs, seq %d..%d, leader %s, replicas %s",
			cfg.Log.Stream, si.State.Msgs, si.State.FirstSeq, si.State.LastSeq, si.Cluster.Leader, strings.Join(replicas, " "))
		for _, d := range cfg.Destinations {
			ci, err := js.Consumer(ctx, cfg.Log.Stream, "dest-"+d.Name)
			if err != nil {
				t.Logf("cluster state: consumer dest-%s: %v", d.Name, err)
				continue
			}
			info := ci.CachedInfo()
			t.Logf("cluster state: consumer %s: delivered stream seq %d, ack floor stream seq %d, ack pending %d, pending %d, redelivered %d, waiting %d, leader %s",
				info.Name, info.Delivered.Stream, info.AckFloor.Stream, info.NumAckPending, info.NumPending, info.NumRedelivered, info.NumWaiting, info.Cluster.Leader)
		}
	})
}

// union merges acknowledged-marker sets.
func union(sets ...map[string]bool) map[string]bool {
	out := map[string]bool{}
	for _, s := range sets {
		for m := range s {
			out[m] = true
		}
	}
	return out
}

// TestClusterTwoBridgesSurviveBridgeAndNodeLoss runs two bridges on one
// in-process 3-node JetStream cluster (stream replicas 3) sharing the
// destination's durable consumer and one sink. Under load to both, one
// bridge is stopped and then the node leading the stream is shut down: the
// other bridge keeps accepting and delivering, and every event either bridge
// acknowledged reaches the sink, copies only with the same messageId.
func TestClusterTwoBridgesSurviveBridgeAndNodeLoss(t *testing.T) {
	parallelLong(t)
	if testing.Short() {
		t.Skip("starts a 3-node JetStream cluster")
	}
	begin := time.Now()
	c := startNATSCluster(t, 3)
	s := newSink(t)
	id := fmt.Sprintf("%d_%d", os.Getpid(), time.Now().UnixNano())
	a := startBridgeLoggedOnFailure(t, clusterBridgeConfig(t, c, s, id))
	b := startBridgeLoggedOnFailure(t, clusterBridgeConfig(t, c, s, id))
	logClusterOnFailure(t, c, b.Cfg)
	t.Logf("cluster and two bridges up in %s", time.Since(begin).Round(time.Millisecond))

	la := startLoadWorkers(t, a.URL, 0, 3, 40)
	lb := startLoadWorkers(t, b.URL, 100, 3, 40)
	testwait.For(t, 20*time.Second, "load accepted by both bridges and delivered", func() bool {
		return la.Batches() >= 30 && lb.Batches() >= 30 && s.Unique() > 0
	})

	// Both bridges deliver: the shared consumer spreads the log's batches
	// over them.
	testwait.For(t, 10*time.Second, "deliveries from both bridges", func() bool {
		return metricSum(t, a.URL, "statsig_bridge_delivered_events_total") > 0 &&
			metricSum(t, b.URL, "statsig_bridge_delivered_events_total") > 0
	})

	// Lose one bridge mid-stream. Its load stops after the bridge has gone:
	// what it acknowledged until then must still arrive.
	a.Stop()
	la.Stop()
	ackedA := la.Acked()
	t.Logf("bridge A stopped after %d acknowledged requests (%d attempts without 202)", la.Batches(), la.Failures())

	// Lose the node leading the stream.
	leader := c.streamLeader(b.Cfg.Log.Stream)
	if leader == nil {
		t.Fatal("no leader for the events stream")
	}
	name := leader.Name()
	leader.Shutdown()
	leader.WaitForShutdown()
	before, delivered := lb.Batches(), s.Unique()
	t.Logf("node %s (stream leader) shut down; bridge B had %d acknowledged requests", name, before)

	// The survivors carry on: B accepts new requests and delivers them.
	testwait.For(t, 20*time.Second, "bridge B accepting after the node loss", func() bool { return lb.Batches() >= before+30 })
	testwait.For(t, 20*time.Second, "deliveries after the node loss", func() bool { return s.Unique() > delivered+1000 })
	if newLeader := c.streamLeader(b.Cfg.Log.Stream); newLeader == nil || newLeader.Name() == name {
		t.Errorf("stream leader after the node loss: %v", newLeader)
	}
	lb.Stop()

	want := union(ackedA, lb.Acked())
	d := waitDelivered(t, s, want, 30*time.Second)
	dups := d.checkCopies(t)
	// Events of a request that got no 202 may still have been stored and
	// arrive as well; that is an SDK retry's business, not a loss.
	if resp, err := http.Get(b.URL + "/readyz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("bridge B not ready after the node loss: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	t.Logf("%d events acknowledged (A %d, B %d), %d at the sink, %d duplicate copies (same messageId); attempts without 202: A %d, B %d; %s in all",
		len(want), len(ackedA), len(want)-len(ackedA), len(d), dups, la.Failures(), lb.Failures(), time.Since(begin).Round(time.Millisecond))
}
