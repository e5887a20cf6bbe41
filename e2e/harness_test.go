package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/cli"
	"github.com/statsig-bridge/statsig-bridge/internal/config"
	"github.com/statsig-bridge/statsig-bridge/internal/queue"
)

// fixtures is the copy of ../shared/fixtures/statsig in testdata.
var fixtures = filepath.Join("..", "testdata", "fixtures")

// testLogger logs only when BRIDGE_TEST_LOG=debug.
func testLogger(t testing.TB) *slog.Logger {
	return testLoggerTo(t, nil)
}

// testLoggerTo logs to w (at Info and above) and, when
// BRIDGE_TEST_LOG=debug, everything to stderr too.
func testLoggerTo(t testing.TB, w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	if os.Getenv("BRIDGE_TEST_LOG") == "debug" {
		level = slog.LevelDebug
		if w == nil {
			w = os.Stderr
		} else {
			w = io.MultiWriter(w, os.Stderr)
		}
	}
	if w == nil {
		w = io.Discard
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// bridge is a running bridge started by startBridge.
type bridge struct {
	URL  string
	Addr net.Addr
	Cfg  *config.Config
	stop func()
}

// Stop shuts the bridge down and waits for it.
func (b *bridge) Stop() { b.stop() }

// testConfig returns a config with an embedded log in a temp dir and,
// when sinkURL is not empty, one Segment destination pointed at it.
func testConfig(t testing.TB, sinkURL string) *config.Config {
	t.Helper()
	return testConfigEnv(t, sinkURL, map[string]string{"BRIDGE_WAREHOUSE": "off"})
}

// testConfigEnv is testConfig with more environment: BRIDGE_WAREHOUSE
// unset turns on the default SQLite warehouse in the data dir.
func testConfigEnv(t testing.TB, sinkURL string, env map[string]string) *config.Config {
	t.Helper()
	getenv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		switch k {
		case "BRIDGE_LISTEN":
			return "127.0.0.1:0"
		case "BRIDGE_DATA_DIR":
			return t.TempDir()
		case "SEGMENT_WRITE_KEY":
			if sinkURL != "" {
				return "test-write-key"
			}
		case "SEGMENT_ENDPOINT":
			return sinkURL
		}
		return ""
	}
	cfg, err := config.FromEnv(getenv)
	if err != nil {
		t.Fatal(err)
	}
	for i := range cfg.Destinations {
		cfg.Destinations[i].Delivery.FlushInterval = 100 * time.Millisecond
		cfg.Destinations[i].Delivery.Retry.Initial = 20 * time.Millisecond
		cfg.Destinations[i].Delivery.Retry.Max = 200 * time.Millisecond
	}
	return cfg
}

// startBridge runs cli.Serve in the test process until the test ends.
func startBridge(t testing.TB, cfg *config.Config) *bridge {
	t.Helper()
	return startBridgeLogging(t, cfg, nil)
}

// startBridgeLoggedOnFailure is startBridge with the bridge's log (Info
// and above) shown in the test's output if the test fails: for the fault
// tests, whose failures are about what the bridge did meanwhile.
func startBridgeLoggedOnFailure(t testing.TB, cfg *config.Config) *bridge {
	t.Helper()
	logs := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the bridge's log:\n%s", logs.String())
		}
	})
	return startBridgeLogging(t, cfg, logs)
}

// startBridgeLogging is startBridge with the bridge's log written to logs.
func startBridgeLogging(t testing.TB, cfg *config.Config, logs io.Writer) *bridge {
	t.Helper()
	// memory_limit is the whole process's (debug.SetMemoryLimit): a bridge
	// in the test binary would make the GC of every test beside it, NATS
	// clusters and sinks included, run as if they were its own heap.
	cfg.MemoryLimit = -1
	if problems := cfg.Validate(); len(problems) > 0 {
		t.Fatalf("invalid test config: %v", problems)
	}
	var (
		ctx    context.Context
		cancel context.CancelFunc
		done   chan error
		b      bridge
	)
	// The embedded log's data dir lock (flock) is held by its open file
	// until every copy of the descriptor is closed, and a process this
	// test binary forks for another test (a bridge subprocess, Chromium)
	// holds a copy until it execs: a bridge started on the data dir of one
	// that just stopped can find it locked for that moment (seen once in
	// a full run). A real second process holds it for good.
	for lockedUntil := time.Now().Add(5 * time.Second); ; {
		ctx, cancel = context.WithCancel(context.Background())
		addrs := make(chan net.Addr, 1)
		done = make(chan error, 1)
		go func() {
			done <- cli.Serve(ctx, cfg, testLoggerTo(t, logs), func(a net.Addr) { addrs <- a })
		}()
		var err error
		select {
		case a := <-addrs:
			b = bridge{URL: "http://" + a.String(), Addr: a, Cfg: cfg}
		case err = <-done:
			cancel()
		case <-time.After(30 * time.Second):
			cancel()
			t.Fatal("bridge did not start within 30s")
		}
		if err == nil {
			break
		}
		if !errors.Is(err, queue.ErrLocked) || time.Now().After(lockedUntil) {
			t.Fatalf("bridge did not start: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var once sync.Once
	b.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("bridge stopped with error: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Error("bridge did not stop within 15s")
			}
		})
	}
	t.Cleanup(b.stop)
	return &b
}

// sink is a Segment-compatible receiver that records every message.
type sink struct {
	*httptest.Server
	WriteKey string

	mu       sync.Mutex
	messages []map[string]any
	byID     map[string]int
	requests []sinkRequest
	respond  func(r *http.Request, attempt int) (code int, header http.Header)
}

type sinkRequest struct {
	At      time.Time
	Code    int
	Items   int
	Bytes   int
	SentAt  string
	AuthOK  bool
	Headers http.Header
}

// newSink starts a receiver that answers 200 unless told otherwise.
func newSink(t testing.TB) *sink {
	s := &sink{WriteKey: "test-write-key", byID: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Respond sets how the sink answers; f gets the request number (from 0).
func (s *sink) Respond(f func(r *http.Request, attempt int) (int, http.Header)) {
	s.mu.Lock()
	s.respond = f
	s.mu.Unlock()
}

func (s *sink) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body)) // Respond may read it too
	s.mu.Lock()
	n := len(s.requests)
	respond := s.respond
	s.mu.Unlock()
	code, header := http.StatusOK, http.Header(nil)
	if respond != nil {
		code, header = respond(r, n)
	}
	var env struct {
		Batch  []map[string]any `json:"batch"`
		SentAt string           `json:"sentAt"`
	}
	_ = json.Unmarshal(body, &env)
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(s.WriteKey+":"))
	req := sinkRequest{At: time.Now(), Code: code, Items: len(env.Batch), Bytes: len(body), SentAt: env.SentAt,
		AuthOK: r.Header.Get("Authorization") == want, Headers: r.Header.Clone()}
	s.mu.Lock()
	s.requests = append(s.requests, req)
	if code/100 == 2 && r.URL.Path == "/v1/batch" {
		for _, m := range env.Batch {
			id, _ := m["messageId"].(string)
			if _, dup := s.byID[id]; !dup {
				s.byID[id] = len(s.messages)
			}
			s.messages = append(s.messages, m)
		}
	}
	s.mu.Unlock()
	for k, v := range header {
		w.Header()[k] = v
	}
	w.WriteHeader(code)
	w.Write([]byte(`{"success":true}`))
}

// Messages returns every message received (duplicates included).
func (s *sink) Messages() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.messages...)
}

// Unique returns the number of distinct messageIds received.
func (s *sink) Unique() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}

// Requests returns the requests received.
func (s *sink) Requests() []sinkRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkRequest(nil), s.requests...)
}

// fixtureRequest replays a captured request (NAME.headers + NAME.body)
// against base, exactly as captured: same path and query, same headers.
func fixtureRequest(t testing.TB, base, dir, name string) *http.Response {
	t.Helper()
	hdr, err := os.ReadFile(filepath.Join(fixtures, dir, name+".headers"))
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(filepath.Join(fixtures, dir, name+".body"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(hdr), "\n"), "\n")
	parts := strings.Fields(lines[0])
	req, err := http.NewRequest(parts[0], base+parts[1], strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}
