package debugger_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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
)

func testLogger() *slog.Logger {
	if os.Getenv("BRIDGE_TEST_LOG") == "debug" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// sink is a Segment-compatible receiver recording messages, answering as
// told.
type sink struct {
	*httptest.Server
	mu       sync.Mutex
	messages []map[string]any
	requests int
	respond  func(body []byte, n int) int
}

func newSink(t *testing.T) *sink {
	s := &sink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		n := s.requests
		s.requests++
		respond := s.respond
		s.mu.Unlock()
		code := http.StatusOK
		if respond != nil {
			code = respond(body, n)
		}
		if code == http.StatusOK {
			var env struct {
				Batch []map[string]any `json:"batch"`
			}
			_ = json.Unmarshal(body, &env)
			s.mu.Lock()
			s.messages = append(s.messages, env.Batch...)
			s.mu.Unlock()
		}
		w.WriteHeader(code)
		w.Write([]byte(`{"success":true}`))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *sink) Respond(f func(body []byte, n int) int) {
	s.mu.Lock()
	s.respond = f
	s.mu.Unlock()
}

func (s *sink) Messages() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.messages...)
}

// bridge is a bridge served by cli.Serve in the test process.
type bridge struct {
	URL string
	Cfg *config.Config
}

// startBridge loads yaml (with %s replaced by a temp data dir) and serves
// it until the test ends.
func startBridge(t *testing.T, yaml string) *bridge {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "bridge.yaml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(yaml, "DATADIR", filepath.Join(dir, "data"))), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Validate(); len(p) > 0 {
		t.Fatalf("invalid test config: %v", p)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- cli.Serve(ctx, cfg, testLogger(), func(a net.Addr) { addrs <- a }) }()
	var b bridge
	select {
	case a := <-addrs:
		b = bridge{URL: "http://" + a.String(), Cfg: cfg}
	case err := <-done:
		cancel()
		t.Fatalf("bridge did not start: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("bridge did not start within 30s")
	}
	t.Cleanup(func() {
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
	return &b
}

// destinationYAML is a Segment destination at url with quick retries.
func destinationYAML(name, url, extra string) string {
	return fmt.Sprintf(`  - name: %s
    segment: {write_key: wk, endpoint: %s}
    delivery: {flush_interval: 50ms, retry: {initial: 20ms, max: 100ms}}
%s`, name, url, extra)
}

// post sends a log_event request with these events and wants 202.
func post(t *testing.T, b *bridge, events ...string) {
	t.Helper()
	body := `{"events":[` + strings.Join(events, ",") + `],"statsigMetadata":{"sdkType":"test-sdk","sdkVersion":"1.0"}}`
	req, _ := http.NewRequest("POST", b.URL+"/v1/log_event", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("STATSIG-API-KEY", "client-test")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		out, _ := io.ReadAll(resp.Body)
		t.Fatalf("log_event answered %d: %s", resp.StatusCode, out)
	}
}

// custom is a custom event of user (with a stableID unless user is "").
func custom(name, user string) string {
	if user == "" {
		return fmt.Sprintf(`{"eventName":%q,"time":%d}`, name, time.Now().UnixMilli())
	}
	return fmt.Sprintf(`{"eventName":%q,"user":{"userID":%q,"customIDs":{"stableID":"stable-%s"}},"time":%d,"metadata":{"plan":"pro"}}`,
		name, user, user, time.Now().UnixMilli())
}

func gate(user string) string {
	return fmt.Sprintf(`{"eventName":"statsig::gate_exposure","user":{"userID":%q},"time":%d,"metadata":{"gate":"new_checkout","gateValue":"true","ruleID":"rule1"}}`,
		user, time.Now().UnixMilli())
}

// getJSON GETs path and decodes the answer into v, wanting code.
func getJSON(t *testing.T, url string, code int, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != code {
		t.Fatalf("GET %s = %d, want %d: %s", url, resp.StatusCode, code, body)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v: %s", url, err, body)
		}
	}
}

// sseEvent is one server-sent event.
type sseEvent struct {
	Name string
	Data string
}

// openStream connects to /api/stream and delivers its events on a channel
// until the test ends.
func openStream(t *testing.T, url string) <-chan sseEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		cancel()
		t.Fatalf("stream answered %d %q", resp.StatusCode, ct)
	}
	ch := make(chan sseEvent, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Name != "" {
					select {
					case ch <- ev:
					default:
					}
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.Name = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.Data = line[6:]
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		<-done
	})
	return ch
}

var _ = bytes.NewReader
