package cli_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/cli"
	"github.com/statsig-bridge/statsig-bridge/internal/config"
	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

const importKey = "import-test-sdk-key"

// importSink is a Segment-compatible receiver recording every message.
type importSink struct {
	*httptest.Server
	mu   sync.Mutex
	msgs []map[string]any
}

func newImportSink(t *testing.T) *importSink {
	s := &importSink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var env struct {
			Batch []map[string]any `json:"batch"`
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &env); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.msgs = append(s.msgs, env.Batch...)
		s.mu.Unlock()
		w.Write([]byte(`{"success":true}`))
	}))
	t.Cleanup(s.Close)
	return s
}

// byEvent returns the messages by event name, and the number of messages.
func (s *importSink) byEvent() (map[string][]map[string]any, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]map[string]any{}
	for _, m := range s.msgs {
		name, _ := m["event"].(string)
		out[name] = append(out[name], m)
	}
	return out, len(s.msgs)
}

// messageIDs returns the distinct messageIds received, by event name.
func (s *importSink) messageIDs() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for _, m := range s.msgs {
		out[m["event"].(string)] = m["messageId"].(string)
	}
	return out
}

func (s *importSink) distinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := map[any]bool{}
	for _, m := range s.msgs {
		ids[m["messageId"]] = true
	}
	return len(ids)
}

// startImportBridge runs a bridge (embedded log, one Segment destination
// pointed at the sink) in the test process until the test ends.
func startImportBridge(t *testing.T, sinkURL string) string {
	t.Helper()
	dir := t.TempDir()
	env := map[string]string{
		"BRIDGE_LISTEN": "127.0.0.1:0", "BRIDGE_DATA_DIR": dir, "BRIDGE_WAREHOUSE": "off",
		"SEGMENT_WRITE_KEY": "wk", "SEGMENT_ENDPOINT": sinkURL, "STATSIG_API_KEYS": importKey,
	}
	cfg, err := config.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	for i := range cfg.Destinations {
		cfg.Destinations[i].Delivery.FlushInterval = 50 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- cli.Serve(ctx, cfg, discardLogger(), func(a net.Addr) { addrs <- a }) }()
	select {
	case a := <-addrs:
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("bridge stopped with error: %v", err)
			}
		})
		return "http://" + a.String()
	case err := <-done:
		cancel()
		t.Fatalf("bridge did not start: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("bridge did not start within 30 s")
	}
	return ""
}

// history is the import's input: events named hist-N at known past times.
type history struct {
	dir   string
	files []string
	times map[string]int64 // event name → original time (Unix ms)
}

var histBase = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC).UnixMilli()

func (h *history) event(n int) map[string]any {
	name := fmt.Sprintf("hist-%03d", n)
	at := histBase + int64(n)*60_000 + 7
	h.times[name] = at
	return map[string]any{
		"eventName": name, "time": at, "value": n,
		"user":     map[string]any{"userID": fmt.Sprintf("user-%d", n%7)},
		"metadata": map[string]any{"n": fmt.Sprint(n)},
	}
}

func (h *history) write(t *testing.T, name string, raw []byte, gz bool) {
	t.Helper()
	if gz {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(raw)
		zw.Close()
		raw = b.Bytes()
	}
	p := filepath.Join(h.dir, name)
	if err := os.WriteFile(p, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	h.files = append(h.files, p)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// newHistory writes four files in every accepted shape: JSON lines (single
// events, SDK request bodies and a webhook batch, one per line), a gzip
// pretty-printed SDK request body, a pretty-printed webhook batch
// {"data":[…]}, and a gzip bare array of webhook events.
func newHistory(t *testing.T) *history {
	h := &history{dir: t.TempDir(), times: map[string]int64{}}
	n := 0
	var jsonl bytes.Buffer
	for i := 0; i < 40; i++ { // single events
		jsonl.Write(mustJSON(h.event(n)))
		jsonl.WriteByte('\n')
		n++
	}
	for r := 0; r < 3; r++ { // SDK request bodies
		var evs []any
		for i := 0; i < 9; i++ {
			evs = append(evs, h.event(n))
			n++
		}
		jsonl.Write(mustJSON(map[string]any{"events": evs, "statsigMetadata": map[string]any{
			"sdkType": "statsig-node", "sdkVersion": "5.1.0", "sessionID": fmt.Sprint("orig-", r)}}))
		jsonl.WriteString("\n\n")
	}
	webhook := func(count int) []any {
		var evs []any
		for i := 0; i < count; i++ {
			e := h.event(n)
			evs = append(evs, map[string]any{
				"eventName": e["eventName"], "timestamp": fmt.Sprint(e["time"]), "userID": "wh-user",
				"user": map[string]any{"userID": "wh-user"}, "unitID": "userID", "value": "",
				"timeUUID": fmt.Sprintf("00000000-ec0f-11ec-917a-%012d", n), "metadata": e["metadata"],
			})
			n++
		}
		return evs
	}
	jsonl.Write(mustJSON(map[string]any{"data": webhook(5)}))
	jsonl.WriteByte('\n')
	h.write(t, "events.jsonl", jsonl.Bytes(), false)

	var evs []any
	for i := 0; i < 23; i++ {
		evs = append(evs, h.event(n))
		n++
	}
	pretty, _ := json.MarshalIndent(map[string]any{"events": evs, "statsigMetadata": map[string]any{"sdkType": "statsig-go"}}, "", "  ")
	h.write(t, "request.json.gz", pretty, true)

	pretty, _ = json.MarshalIndent(map[string]any{"data": webhook(11)}, "", "  ")
	h.write(t, "webhook.json", pretty, false)
	h.write(t, "webhook-array.gz", mustJSON(webhook(6)), true)
	return h
}

// runImport runs the import command and returns its exit code and stderr.
func runImport(ctx context.Context, args ...string) (int, string) {
	var stdout, stderr bytes.Buffer
	code := cli.Main(ctx, append([]string{"import"}, args...), &cli.Env{
		Stdin: bytes.NewReader(nil), Stdout: &stdout, Stderr: &stderr,
		Getenv: func(string) string { return "" },
	})
	return code, stderr.String()
}

// checkDelivered waits until every event of h arrived and checks that each
// arrived under one messageId with its original time as timestamp.
func checkDelivered(t *testing.T, s *importSink, h *history) map[string]string {
	t.Helper()
	testwait.For(t, 15*time.Second, "every imported event at the sink", func() bool {
		got, _ := s.byEvent()
		return len(got) >= len(h.times)
	})
	got, total := s.byEvent()
	for name, at := range h.times {
		msgs := got[name]
		if len(msgs) == 0 {
			t.Errorf("%s never arrived", name)
			continue
		}
		for _, m := range msgs {
			if m["messageId"] != msgs[0]["messageId"] {
				t.Errorf("%s arrived under two messageIds: %v and %v", name, msgs[0]["messageId"], m["messageId"])
			}
			for _, field := range []string{"timestamp", "originalTimestamp"} {
				ts, err := time.Parse(time.RFC3339Nano, fmt.Sprint(m[field]))
				if err != nil || ts.UnixMilli() != at {
					t.Errorf("%s: %s %v, want the original time %s", name, field, m[field], time.UnixMilli(at).UTC().Format(time.RFC3339Nano))
				}
			}
		}
	}
	if len(got) != len(h.times) {
		t.Errorf("%d distinct events arrived, want %d", len(got), len(h.times))
	}
	if d := s.distinct(); d != len(h.times) {
		t.Errorf("%d distinct messageIds for %d events", d, len(h.times))
	}
	t.Logf("%d events imported, %d messages received", len(h.times), total)
	return s.messageIDs()
}

func TestImportDeliversEveryEventOnceWithOriginalTimesAndStableIDs(t *testing.T) {
	t.Parallel() // a bridge and sink of its own; the rate test stays alone
	h := newHistory(t)
	sink := newImportSink(t)
	bridgeURL := startImportBridge(t, sink.URL)
	// The first request is answered 429 with Retry-After: the import waits
	// and sends it again.
	target, _ := url.Parse(bridgeURL)
	var requests atomic.Int32
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		if r.Header.Get("Statsig-Client-Time") != "" {
			t.Errorf("the import sent STATSIG-CLIENT-TIME: the intake would shift the original times")
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()

	args := append([]string{"--url", front.URL, "--api-key", importKey, "--batch", "7", "--progress-interval", "1ns"}, h.files...)
	code, stderr := runImport(context.Background(), args...)
	if code != cli.ExitOK {
		t.Fatalf("import exit %d:\n%s", code, stderr)
	}
	first := checkDelivered(t, sink, h)
	for _, want := range []string{"retrying in 1s", "events sent", "events/s", "% of input", fmt.Sprintf("done: %d events sent", len(h.times))} {
		if !strings.Contains(stderr, want) {
			t.Errorf("progress output lacks %q:\n%s", want, stderr)
		}
	}

	// The same import into another bridge gives the same messageIds: a
	// warehouse or Segment that got the first one deduplicates the second.
	sink2 := newImportSink(t)
	bridge2 := startImportBridge(t, sink2.URL)
	args = append([]string{"--url", bridge2, "--api-key", importKey, "--batch", "7"}, h.files...)
	if code, stderr := runImport(context.Background(), args...); code != cli.ExitOK {
		t.Fatalf("second import exit %d:\n%s", code, stderr)
	}
	second := checkDelivered(t, sink2, h)
	for name, id := range first {
		if second[name] != id {
			t.Errorf("%s: messageId %s on the first import, %s on the second", name, id, second[name])
		}
	}
}

func TestImportResumesAfterInterruptionWithoutLoss(t *testing.T) {
	t.Parallel() // a bridge and sink of its own; the rate test stays alone
	h := newHistory(t)
	sink := newImportSink(t)
	bridgeURL := startImportBridge(t, sink.URL)
	target, _ := url.Parse(bridgeURL)
	proxy := httputil.NewSingleHostReverseProxy(target)

	// The import is cancelled while its 5th request is in flight, after
	// the bridge stored it but before the answer arrives: the worst case,
	// a stored request the position file does not know about.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var requests atomic.Int32
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		proxy.ServeHTTP(rec, r)
		if requests.Add(1) == 5 {
			cancel()
			panic(http.ErrAbortHandler) // no answer: the connection is dropped
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}))
	defer front.Close()
	state := filepath.Join(t.TempDir(), "position")
	args := append([]string{"--url", front.URL, "--api-key", importKey, "--batch", "7", "--resume", "--state", state}, h.files...)
	code, stderr := runImport(ctx, args...)
	if code == cli.ExitOK {
		t.Fatalf("the interrupted import succeeded:\n%s", stderr)
	}
	if !strings.Contains(stderr, "interrupted; the same command continues from the position file") {
		t.Errorf("stderr does not say how to continue:\n%s", stderr)
	}
	if !strings.Contains(stderr, "stopped: 28 events sent") {
		t.Errorf("stderr lacks the 4 acknowledged requests (28 events):\n%s", stderr)
	}
	saved, err := os.ReadFile(state + ".0")
	if err != nil {
		t.Fatalf("no position file: %v", err)
	}
	var pos struct{ Line, Chunk int }
	json.Unmarshal(saved, &pos)
	if pos.Chunk != 4 || pos.Line != 29 {
		t.Errorf("position file %s: want chunk 4 at line 29", saved)
	}

	code, stderr = runImport(context.Background(), args...)
	if code != cli.ExitOK {
		t.Fatalf("resumed import exit %d:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "resuming at line 29, event 0 (28 events sent before)") {
		t.Errorf("stderr does not say where it resumed:\n%s", stderr)
	}
	resumed := checkDelivered(t, sink, h)

	// The same files imported in one go elsewhere: the same messageIds.
	sink2 := newImportSink(t)
	bridge2 := startImportBridge(t, sink2.URL)
	if code, stderr := runImport(context.Background(), append([]string{"--url", bridge2, "--api-key", importKey, "--batch", "7"}, h.files...)...); code != cli.ExitOK {
		t.Fatalf("reference import exit %d:\n%s", code, stderr)
	}
	whole := checkDelivered(t, sink2, h)
	for name, id := range whole {
		if resumed[name] != id {
			t.Errorf("%s: messageId %s after resuming, %s in one go", name, resumed[name], id)
		}
	}

	// Done files are skipped by a third run.
	code, stderr = runImport(context.Background(), args...)
	if code != cli.ExitOK || !strings.Contains(stderr, "already imported") || !strings.Contains(stderr, "done: 0 events sent") {
		t.Errorf("a third --resume run: exit %d:\n%s", code, stderr)
	}
}

func TestImportResumesInsideAGzipFile(t *testing.T) {
	t.Parallel() // a bridge and sink of its own; the rate test stays alone
	// One gzip JSON-lines file of 30 single events; stopped after 2
	// requests of 4 events and resumed: every event arrives once per ID.
	h := &history{dir: t.TempDir(), times: map[string]int64{}}
	var lines bytes.Buffer
	for n := 0; n < 30; n++ {
		lines.Write(mustJSON(h.event(n)))
		lines.WriteByte('\n')
	}
	h.write(t, "events.jsonl.gz", lines.Bytes(), true)
	sink := newImportSink(t)
	bridgeURL := startImportBridge(t, sink.URL)
	target, _ := url.Parse(bridgeURL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var requests atomic.Int32
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 3 {
			cancel()
			panic(http.ErrAbortHandler) // no answer: the connection is dropped
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	args := []string{"--url", front.URL, "--api-key", importKey, "--batch", "4", "--rate", "100000", "--resume", h.files[0]}
	if code, stderr := runImport(ctx, args...); code == cli.ExitOK {
		t.Fatalf("the interrupted import succeeded:\n%s", stderr)
	}
	code, stderr := runImport(context.Background(), args...)
	if code != cli.ExitOK || !strings.Contains(stderr, "resuming at line 9, event 0 (8 events sent before)") {
		t.Fatalf("resumed import exit %d:\n%s", code, stderr)
	}
	checkDelivered(t, sink, h)
	if _, err := os.Stat(h.files[0] + ".import-position"); err != nil {
		t.Errorf("no position file beside the input: %v", err)
	}
}

func TestImportStopsOnRefusalNamingTheLines(t *testing.T) {
	t.Parallel() // a bridge and sink of its own; the rate test stays alone
	sink := newImportSink(t)
	bridgeURL := startImportBridge(t, sink.URL)
	h := &history{dir: t.TempDir(), times: map[string]int64{}}
	var lines bytes.Buffer
	for n := 0; n < 5; n++ {
		lines.Write(mustJSON(h.event(n)))
		lines.WriteByte('\n')
	}
	h.write(t, "ok.jsonl", lines.Bytes(), false)

	t.Run("wrong API key", func(t *testing.T) {
		code, stderr := runImport(context.Background(), "--url", bridgeURL, "--api-key", "not-a-key", "--batch", "2", h.files[0])
		for _, want := range []string{"ok.jsonl, lines 1-2", "(401)", "--api-key"} {
			if code != cli.ExitError || !strings.Contains(stderr, want) {
				t.Errorf("exit %d, stderr lacks %q:\n%s", code, want, stderr)
			}
		}
		if n := strings.Count(stderr, "STATSIG_API_KEYS"); n != 1 {
			t.Errorf("the refusal names STATSIG_API_KEYS %d times, want once:\n%s", n, stderr)
		}
	})
	t.Run("bad line", func(t *testing.T) {
		bad := filepath.Join(h.dir, "bad.jsonl")
		os.WriteFile(bad, append(slices.Clone(lines.Bytes()), []byte("{\"eventName\": 12}\n")...), 0o600)
		code, stderr := runImport(context.Background(), "--url", bridgeURL, "--api-key", importKey, bad)
		if code != cli.ExitError || !strings.Contains(stderr, "bad.jsonl, line 6") {
			t.Errorf("exit %d, stderr does not name line 6:\n%s", code, stderr)
		}
	})
	t.Run("no file", func(t *testing.T) {
		if code, _ := runImport(context.Background(), "--url", bridgeURL); code != cli.ExitUsage {
			t.Errorf("exit %d, want usage", code)
		}
	})
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestImportKeepsIdenticalEventsInDifferentRequestsApart(t *testing.T) {
	t.Parallel() // a bridge and sink of its own; the rate test stays alone
	// Three identical lines, one request each: three events downstream
	// (each request has its own session), not one deduplicated message.
	sink := newImportSink(t)
	bridgeURL := startImportBridge(t, sink.URL)
	h := &history{dir: t.TempDir(), times: map[string]int64{}}
	line := append(mustJSON(h.event(1)), '\n')
	h.write(t, "same.jsonl", bytes.Repeat(line, 3), false)
	if code, stderr := runImport(context.Background(), "--url", bridgeURL, "--api-key", importKey, "--batch", "1", h.files[0]); code != cli.ExitOK {
		t.Fatalf("import exit %d:\n%s", code, stderr)
	}
	testwait.For(t, 15*time.Second, "three messages", func() bool { return sink.distinct() >= 3 })
	if _, n := sink.byEvent(); n != 3 {
		t.Errorf("%d messages, want 3", n)
	}
}

// TestImportTwiceSaysAlreadyStored: the same file imported again within the
// log's 2-minute duplicate window stores nothing new, and import says so
// instead of "N events sent" alone.
func TestImportTwiceSaysAlreadyStored(t *testing.T) {
	t.Parallel() // a bridge and sink of its own; the rate test stays alone
	sink := newImportSink(t)
	bridgeURL := startImportBridge(t, sink.URL)
	h := &history{dir: t.TempDir(), times: map[string]int64{}}
	var lines bytes.Buffer
	for n := range 6 {
		lines.Write(mustJSON(h.event(n)))
		lines.WriteByte('\n')
	}
	h.write(t, "again.jsonl", lines.Bytes(), false)
	args := []string{"--url", bridgeURL, "--api-key", importKey, "--batch", "3", h.files[0]}
	code, stderr := runImport(context.Background(), args...)
	if code != cli.ExitOK || strings.Contains(stderr, "already stored") {
		t.Fatalf("first import exit %d:\n%s", code, stderr)
	}
	code, stderr = runImport(context.Background(), args...)
	if code != cli.ExitOK || !strings.Contains(stderr, "6 of them already stored (the same request within 2 min") {
		t.Errorf("second import exit %d, want it to say the 6 events were already stored:\n%s", code, stderr)
	}
}

// TestImportRateIsACeilingAndProgressFollowsTheEvents (issue 15.6): with
// --rate no second carries more events than the rate, the first included
// (requests of --batch events, evenly spaced); the progress share moves
// with every request sent instead of jumping to what was read ahead; a
// rate below one request is refused, naming the fix.
func TestImportRateIsACeilingAndProgressFollowsTheEvents(t *testing.T) {
	sink := newImportSink(t)
	bridgeURL := startImportBridge(t, sink.URL)
	target, _ := url.Parse(bridgeURL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	var arrivals []time.Time
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	h := &history{dir: t.TempDir(), times: map[string]int64{}}
	var lines bytes.Buffer
	for n := range 40 {
		lines.Write(mustJSON(h.event(n)))
		lines.WriteByte('\n')
	}
	h.write(t, "paced.jsonl", lines.Bytes(), false)
	const batch, rateLimit = 5, 12 // two requests of 5 a second: 10 events ≤ 12
	code, stderr := runImport(context.Background(), "--url", front.URL, "--api-key", importKey,
		"--batch", strconv.Itoa(batch), "--rate", strconv.Itoa(rateLimit), "--progress-interval", "1ns", h.files[0])
	if code != cli.ExitOK {
		t.Fatalf("import exit %d:\n%s", code, stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(arrivals) != 8 {
		t.Fatalf("%d requests, want 8 of %d events", len(arrivals), batch)
	}
	busiest := 0
	for i := range arrivals {
		n := 0
		for _, a := range arrivals[i:] {
			if a.Sub(arrivals[i]) < time.Second {
				n++
			}
		}
		busiest = max(busiest, n*batch)
	}
	if busiest > rateLimit {
		t.Errorf("%d events within one second, over --rate %d", busiest, rateLimit)
	}
	var shares []string
	for _, l := range strings.Split(stderr, "\n") {
		if _, rest, ok := strings.Cut(l, "events/s, "); ok {
			if share, _, ok := strings.Cut(rest, "% of input"); ok {
				shares = append(shares, share)
			}
		}
	}
	prev := -1.0
	for _, s := range shares {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v <= prev {
			t.Errorf("progress shares %v do not grow with every request", shares)
			break
		}
		prev = v
	}
	if len(shares) != 8 || shares[len(shares)-1] != "100.0" {
		t.Errorf("progress shares %v, want one per request ending at 100.0", shares)
	}

	code, stderr = runImport(context.Background(), "--url", front.URL, "--api-key", importKey, "--batch", "500", "--rate", "100", h.files[0])
	if code == cli.ExitOK || !strings.Contains(stderr, "--rate 100 is below --batch 500") {
		t.Errorf("--rate below one request: exit %d, stderr %q; want a refusal naming both", code, stderr)
	}
}
