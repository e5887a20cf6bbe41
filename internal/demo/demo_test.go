package demo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/cli"
	"github.com/statsig-bridge/statsig-bridge/internal/config"
	"github.com/statsig-bridge/statsig-bridge/internal/demo"
	"github.com/statsig-bridge/statsig-bridge/internal/server"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

func testLogger() *slog.Logger {
	if os.Getenv("BRIDGE_TEST_LOG") == "debug" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// testConfig is a bridge on 127.0.0.1:0 with its log in a temp dir and
// the environment given.
func testConfig(t *testing.T, env map[string]string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.FromEnv(func(k string) string {
		switch k {
		case "BRIDGE_LISTEN":
			return "127.0.0.1:0"
		case "BRIDGE_DATA_DIR":
			return dir
		}
		return env[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// serve runs cli.Serve until the test ends (or stop is called) and
// returns the bound address.
func serve(t *testing.T, ctx context.Context, cfg *config.Config, ready cli.Ready) (addr string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	addrs := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- cli.Serve(ctx, cfg, testLogger(), func(a net.Addr) {
			if ready != nil {
				ready(a)
			}
			addrs <- a.String()
		})
	}()
	select {
	case addr = <-addrs:
	case err := <-done:
		cancel()
		t.Fatalf("bridge did not start: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("bridge did not start within 30s")
	}
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(15 * time.Second):
				t.Error("bridge did not stop within 15s")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return addr, stop
}

// exchange is one request the generator made and the bridge's answer.
type exchange struct {
	URL    string
	Header http.Header
	Body   []byte
	Code   int
	Answer []byte
}

// recorder is a RoundTripper that keeps every exchange.
type recorder struct {
	mu  sync.Mutex
	all []exchange
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(req.Body)
	req.Body = io.NopCloser(bytes.NewReader(body))
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(answer))
	r.mu.Lock()
	r.all = append(r.all, exchange{URL: req.URL.String(), Header: req.Header.Clone(), Body: body, Code: resp.StatusCode, Answer: answer})
	r.mu.Unlock()
	return resp, nil
}

func (r *recorder) exchanges() []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]exchange(nil), r.all...)
}

// sdkOf names the SDK of a recorded request by its wire shape.
func sdkOf(x exchange) string {
	switch {
	case strings.Contains(x.URL, "/v1/rgstr?"):
		return "javascript-client"
	case x.Header.Get("Content-Encoding") == "zstd":
		return "statsig-server-core-node"
	}
	return x.Header.Get("STATSIG-SDK-TYPE")
}

// TestGeneratorRequestsAreAcceptedAndDecode runs the generator against a
// real bridge and checks every request: the intake answered 202 with every
// event accepted, and the body, decompressed as the intake does, decodes
// with statsig.DecodeRequest without a rejection, in the SDK's wire shape.
func TestGeneratorRequestsAreAcceptedAndDecode(t *testing.T) {
	t.Parallel() // waits on timeouts and intervals: overlapped with the package's other tests
	cfg := testConfig(t, map[string]string{"BRIDGE_WAREHOUSE": "off", "STATSIG_API_KEYS": "secret-demo-test-key"})
	addr, stop := serve(t, context.Background(), cfg, nil)
	rec := &recorder{}
	g := &demo.Generator{Target: "http://" + addr, APIKey: "secret-demo-test-key", Client: &http.Client{Transport: rec},
		Seed: 3, Rate: 50, Burst: 200, PoisonEvery: -1, Logger: testLogger()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	testwait.For(t, 15*time.Second, "requests from all three SDKs", func() bool {
		n := map[string]int{}
		for _, x := range rec.exchanges() {
			n[sdkOf(x)]++
		}
		return n["go-sdk"] >= 2 && n["javascript-client"] >= 2 && n["statsig-server-core-node"] >= 1
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("generator: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the generator did not stop within 5s of its context's end")
	}
	if err := stop(); err != nil {
		t.Fatalf("bridge: %v", err)
	}
	if st := g.Stats(); st.Failed > 0 || st.Requests == 0 {
		t.Errorf("generator: %+v", st)
	}

	var events, anonymousJS int
	kinds := map[string]int{}
	for i, x := range rec.exchanges() {
		if x.Code == 0 {
			continue // cut off by the cancel
		}
		sdk := sdkOf(x)
		if x.Code != http.StatusAccepted {
			t.Fatalf("request %d (%s): %d %s", i, sdk, x.Code, x.Answer)
		}
		u, _ := url.Parse(x.URL)
		q := u.Query()
		var count string
		switch sdk {
		case "go-sdk":
			if x.Header.Get("Content-Encoding") != "gzip" || x.Header.Get("STATSIG-API-KEY") != "secret-demo-test-key" ||
				x.Header.Get("STATSIG-CLIENT-TIME") == "" || u.Path != "/v1/log_event" {
				t.Fatalf("Go request %d is not shaped like the Go SDK's: %s %v", i, x.URL, x.Header)
			}
			count = x.Header.Get("STATSIG-EVENT-COUNT")
		case "javascript-client":
			if q.Get("k") != "secret-demo-test-key" || q.Get("gz") != "1" || q.Get("t") == "" || x.Header.Get("Content-Encoding") != "" ||
				x.Header.Get("STATSIG-API-KEY") != "" || x.Header.Get("Content-Type") != "" {
				t.Fatalf("js request %d is not shaped like the js-client's: %s %v", i, x.URL, x.Header)
			}
			count = q.Get("ec")
		case "statsig-server-core-node":
			if x.Header.Get("statsig-api-key") != "secret-demo-test-key" || u.Path != "/v1/log_event" {
				t.Fatalf("node request %d is not shaped like node-core's: %s %v", i, x.URL, x.Header)
			}
			count = x.Header.Get("statsig-event-count")
		default:
			t.Fatalf("request %d from an unknown SDK: %s %v", i, x.URL, x.Header)
		}
		body, err := server.Decompress(x.Body, x.Header.Get("Content-Encoding"), q.Get("gz") == "1", 10<<20)
		if err != nil {
			t.Fatalf("request %d (%s): %v", i, sdk, err)
		}
		b, rejects, err := statsig.DecodeRequest(body, statsig.RequestInfo{ReceivedAt: time.Now(), SDKKey: "k"})
		if err != nil || len(rejects) > 0 {
			t.Fatalf("request %d (%s) does not decode cleanly: %v %v\n%s", i, sdk, err, rejects, body)
		}
		if b.SDKType != sdk || strconv.Itoa(len(b.Events)) != count {
			t.Fatalf("request %d: sdkType %q (want %s), %d events (header says %s)", i, b.SDKType, sdk, len(b.Events), count)
		}
		var a struct{ Accepted, Rejected int }
		if json.Unmarshal(x.Answer, &a); a.Accepted != len(b.Events) || a.Rejected != 0 {
			t.Fatalf("request %d (%s): the bridge answered %s for %d events", i, sdk, x.Answer, len(b.Events))
		}
		events += len(b.Events)
		for _, e := range b.Events {
			kinds[e.EventName]++
			switch sdk {
			case "go-sdk":
				// The Go SDK's value is always a string; a stableID-only
				// user has "userID": "" and the stableID as a custom ID.
				if len(e.Value) == 0 || e.Value[0] != '"' {
					t.Fatalf("Go event with a non-string value: %s", e.Value)
				}
				if e.User.StableID() == "" {
					t.Fatalf("Go event without the visitor's stableID: %+v", e.User)
				}
			case "javascript-client":
				if b.StableID == "" || e.User.StableID() != "" {
					t.Fatalf("js-client: the stableID must be request-level only (request %q, event %q)", b.StableID, e.User.StableID())
				}
				if !bytes.Contains(e.StatsigMetadata, []byte(`"currentPage":"https://shop.example.com/`)) {
					t.Fatalf("js-client event without currentPage: %s", e.StatsigMetadata)
				}
				if e.User.UserID == "" && e.EventName == "page_view" {
					anonymousJS++
				}
			}
		}
	}
	if anonymousJS == 0 {
		t.Error("no stableID-only visitor came through the js-client")
	}
	for _, k := range []string{"statsig::gate_exposure", "statsig::config_exposure", "page_view", "add_to_cart"} {
		if kinds[k] == 0 {
			t.Errorf("no %s among %d events: %v", k, events, kinds)
		}
	}
	t.Logf("%d events in %d requests: %v", events, len(rec.exchanges()), kinds)
}

// TestServeDemoDeliversResolvedExperiments runs the bridge as `serve --demo`
// does (cli.StartDemo + cli.Serve) and watches the demo sink: experiment
// exposures arrive resolved from the demo's specs, stableID-only visitors
// as anonymousId without userId, the poisoned cart is dead-lettered alone,
// an outage of the sink is retried through, and everything stops on cancel.
func TestServeDemoDeliversResolvedExperiments(t *testing.T) {
	t.Parallel()              // waits on timeouts and intervals: overlapped with the package's other tests
	cfg := testConfig(t, nil) // default SQLite warehouse on
	base := cfg.DataDir
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, ready, err := cli.StartDemo(ctx, cfg, testLogger(), demo.Options{Rate: 50, PoisonEvery: 10,
		OutageEvery: 2 * time.Second, OutageFor: 400 * time.Millisecond, OutageOffset: 800 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != filepath.Join(base, "demo") || cfg.Specs.ServerSecret != demo.ServerSecret {
		t.Fatalf("demo config: data dir %s, specs secret %q", cfg.DataDir, cfg.Specs.ServerSecret)
	}
	for _, dst := range cfg.Destinations {
		if dst.Warehouse != nil && dst.Warehouse.DSN != filepath.Join(base, "demo", "warehouse", "statsig.db") {
			t.Fatalf("the demo's warehouse is at %s, not under the demo data dir", dst.Warehouse.DSN)
		}
	}
	cfg.ShutdownTimeout = 3 * time.Second // the sink's outages would hold the drain
	for i := range cfg.Destinations {
		cfg.Destinations[i].Delivery.FlushInterval = 100 * time.Millisecond
		cfg.Destinations[i].Delivery.Retry.Initial = 20 * time.Millisecond
	}
	addr, stop := serve(t, ctx, cfg, ready)
	sink := d.Sink()

	var experiment, anonymous map[string]any
	testwait.For(t, 15*time.Second, "an experiment exposure with its group and a stableID-only visitor's message at the demo sink", func() bool {
		for _, m := range sink.Messages() {
			props, _ := m["properties"].(map[string]any)
			md, _ := props["metadata"].(map[string]any)
			if group, _ := md["experimentGroupName"].(string); experiment == nil && m["event"] == "statsig::experiment_exposure" && group != "" {
				experiment = m
			}
			if _, hasUser := m["userId"]; anonymous == nil && !hasUser && m["anonymousId"] != nil && m["anonymousId"] != "" {
				anonymous = m
			}
		}
		return experiment != nil && anonymous != nil
	})
	if m := experiment; m["type"] != "track" || m["userId"] == nil && m["anonymousId"] == nil {
		t.Errorf("experiment exposure: %v", m)
	}
	t.Logf("experiment exposure: %v", experiment)
	t.Logf("stableID-only visitor: %v", anonymous)

	metric := func(name string) float64 {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return 0
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		sum := 0.0
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, name) {
				f := strings.Fields(l)
				v, _ := strconv.ParseFloat(f[len(f)-1], 64)
				sum += v
			}
		}
		return sum
	}
	testwait.For(t, 15*time.Second, "a poisoned cart dead-lettered at demo-segment", func() bool {
		return metric(`statsig_bridge_dead_lettered_events_total{destination="demo-segment"`) > 0
	})
	if sink.Stats().Refused == 0 {
		t.Error("the sink refused nothing, yet something was dead-lettered")
	}
	for _, m := range sink.Messages() {
		if b, _ := json.Marshal(m); bytes.Contains(b, []byte(demo.PoisonSKU)) {
			t.Fatalf("the sink accepted a poisoned message: %s", b)
		}
	}
	testwait.For(t, 15*time.Second, "retries through a sink outage, then deliveries again", func() bool {
		return sink.Stats().Unavailable > 0 && metric(`statsig_bridge_retried_batches_total{destination="demo-segment"`) > 0 &&
			metric(`statsig_bridge_delivered_events_total{attempt="retry",destination="demo-segment"`) > 0
	})
	if n := metric(`statsig_bridge_experiment_unresolved_events_total{destination="demo-segment"`); n > 0 {
		t.Errorf("%g exposures were not resolved from the demo's specs", n)
	}
	if _, err := os.Stat(filepath.Join(base, "demo", "warehouse", "statsig.db")); err != nil {
		t.Errorf("the demo's SQLite warehouse: %v", err)
	}

	// As in `serve --demo`: one context ends the generator and the bridge.
	before := d.GeneratorStats()
	cancel()
	if err := stop(); err != nil {
		t.Fatalf("bridge: %v", err)
	}
	closed := make(chan error, 1)
	go func() { closed <- d.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("closing the demo: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the demo did not close within 5s")
	}
	after := d.GeneratorStats()
	if after.Events < before.Events || after.Events == 0 || after.Failed > 0 {
		t.Errorf("generator stats: %+v before stop, %+v after", before, after)
	}
	t.Logf("generator: %+v; sink: %+v", after, sink.Stats())
}

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeDemoFlag runs `statsig-bridge serve --demo` as a user does:
// it says where to look, events arrive, and it stops cleanly on cancel.
func TestServeDemoFlag(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"BRIDGE_LISTEN": "127.0.0.1:0", "BRIDGE_DATA_DIR": dir}
	var stderr syncBuffer
	env := &cli.Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &stderr, Getenv: func(k string) string { return vars[k] }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	code := make(chan int, 1)
	go func() { code <- cli.Main(ctx, []string{"serve", "--demo"}, env) }()
	open := regexp.MustCompile(`"url":"(http://127\.0\.0\.1:\d+/)"`)
	var page string
	testwait.For(t, 30*time.Second, "the log line saying where to look", func() bool {
		if m := open.FindStringSubmatch(stderr.String()); m != nil {
			page = m[1]
		}
		return page != ""
	})
	if !strings.Contains(stderr.String(), "demo mode on") {
		t.Errorf("no 'demo mode on' line:\n%s", stderr.String())
	}
	testwait.For(t, 15*time.Second, "events received and delivered to demo-segment", func() bool {
		resp, err := http.Get(page + "metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return bytes.Contains(b, []byte(`statsig_bridge_received_events_total{source="sdk"}`)) &&
			bytes.Contains(b, []byte(`statsig_bridge_delivered_events_total{attempt="first",destination="demo-segment"}`))
	})
	cancel()
	select {
	case c := <-code:
		if c != cli.ExitOK {
			t.Fatalf("serve --demo exited %d:\n%s", c, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve --demo did not stop within 20s of the cancel")
	}
	if _, err := os.Stat(filepath.Join(dir, "demo", "jetstream")); err != nil {
		t.Errorf("the demo's log is not under data_dir/demo: %v", err)
	}
}
