package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/statsig-bridge/statsig-bridge/internal/queue"
	"github.com/statsig-bridge/statsig-bridge/internal/server"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// fixtures is the copy of ../shared/fixtures/statsig in testdata.
var fixtures = filepath.Join("..", "..", "testdata", "fixtures")

// testLogger logs only when BRIDGE_TEST_LOG=debug.
func testLogger() *slog.Logger {
	if os.Getenv("BRIDGE_TEST_LOG") == "debug" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// intake is a server.Server over a real embedded JetStream, served by an
// httptest.Server on loopback.
type intake struct {
	URL string
	Log *queue.Log
	Reg *prometheus.Registry
	Srv *server.Server
}

// openLog opens an embedded log in a temp dir and closes it when the test ends.
func openLog(t testing.TB, qcfg queue.Config) *queue.Log {
	t.Helper()
	if qcfg.URL == "" && qcfg.DataDir == "" {
		qcfg.DataDir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := queue.Open(ctx, qcfg, testLogger())
	if err != nil {
		t.Fatalf("opening the log: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// startIntake serves cfg over a fresh log; qcfg tunes the log.
func startIntake(t testing.TB, cfg server.Config, qcfg queue.Config) *intake {
	t.Helper()
	l := openLog(t, qcfg)
	reg := prometheus.NewRegistry()
	srv := server.New(cfg, l, reg, testLogger())
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &intake{URL: ts.URL, Log: l, Reg: reg, Srv: srv}
}

// open serves the SDK intake with any key accepted.
func openIntake(t testing.TB) *intake {
	return startIntake(t, server.Config{AllowAnyKey: true}, queue.Config{})
}

// answer is a decoded intake response.
type answer struct {
	Code    int
	Header  http.Header
	Raw     string
	Success bool   `json:"success"`
	Error   string `json:"error"`
	// Accepted and Rejected count events.
	Accepted   int                 `json:"accepted"`
	Rejected   int                 `json:"rejected"`
	Rejections []statsig.Rejection `json:"rejections"`
}

// do sends req and decodes the JSON answer, failing the test if the answer
// is not JSON.
func do(t testing.TB, req *http.Request) answer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading answer: %v", err)
	}
	a := answer{Code: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("%s %s answered %d with a body that is not JSON: %q", req.Method, req.URL.Path, resp.StatusCode, raw)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s: Content-Type %q, want application/json", req.Method, req.URL.Path, ct)
	}
	return a
}

// post builds a POST with headers set exactly as given (no canonicalisation,
// so lower-case names go on the wire as such).
func post(t testing.TB, url string, body []byte, headers map[string]string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header[k] = []string{v}
	}
	return req
}

// fixture is a captured request: NAME.headers and NAME.body.
type fixture struct {
	Dir, Name string
	Method    string
	Target    string // path and query, as captured
	Headers   [][2]string
	Body      []byte
}

// loadFixtures returns every NAME.headers/NAME.body pair under dir (a
// folder of testdata/fixtures).
func loadFixtures(t testing.TB, dir string) []fixture {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(fixtures, dir, "*.headers"))
	if err != nil {
		t.Fatal(err)
	}
	var out []fixture
	for _, p := range paths {
		out = append(out, readFixture(t, dir, strings.TrimSuffix(filepath.Base(p), ".headers")))
	}
	return out
}

func readFixture(t testing.TB, dir, name string) fixture {
	t.Helper()
	hdr, err := os.ReadFile(filepath.Join(fixtures, dir, name+".headers"))
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(filepath.Join(fixtures, dir, name+".body"))
	if err != nil {
		t.Fatal(err)
	}
	f := fixture{Dir: dir, Name: name, Body: body}
	sc := bufio.NewScanner(bytes.NewReader(hdr))
	first := true
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if first {
			parts := strings.Fields(line)
			if len(parts) < 2 {
				t.Fatalf("%s/%s.headers: bad request line %q", dir, name, line)
			}
			f.Method, f.Target, first = parts[0], parts[1], false
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f.Headers = append(f.Headers, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
	}
	return f
}

// request replays the fixture against base: same method, path, query and
// header names exactly as captured.
func (f fixture) request(t testing.TB, base string) *http.Request {
	t.Helper()
	return f.requestWithBody(t, base, f.Body)
}

func (f fixture) requestWithBody(t testing.TB, base string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(f.Method, base+f.Target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range f.Headers {
		req.Header[h[0]] = append(req.Header[h[0]], h[1])
	}
	return req
}

// header returns the fixture's header value (case-insensitive name).
func (f fixture) header(name string) string {
	for _, h := range f.Headers {
		if strings.EqualFold(h[0], name) {
			return h[1]
		}
	}
	return ""
}

// decodedEvents counts the events of the fixture's decoded body (NAME.json,
// or for webhook batches the body itself).
func (f fixture) decodedEvents(t testing.TB) int {
	t.Helper()
	path := filepath.Join(fixtures, f.Dir, f.Name+".json")
	raw, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		raw, err = f.Body, nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Events []json.RawMessage `json:"events"`
		Data   []json.RawMessage `json:"data"`
	}
	if len(raw) > 0 && raw[0] == '[' {
		if err := json.Unmarshal(raw, &env.Data); err != nil {
			t.Fatal(err)
		}
	} else if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return len(env.Events) + len(env.Data)
}

var readerSeq atomic.Int64

// stored is one batch read back from the log.
type stored struct {
	Raw   []byte
	Batch statsig.Batch
}

// readLog reads every batch now in the log through a fresh durable
// consumer (acking them for that consumer only), decoding each as a
// statsig.Batch. It polls until want batches are there (want < 0: read what
// is there now).
func readLog(t testing.TB, l *queue.Log, want int) []stored {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cons, err := l.Consumer(ctx, "reader-"+strconv.FormatInt(readerSeq.Add(1), 10), queue.ConsumerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []stored
	for {
		msgs, err := cons.Fetch(ctx, 256, 200*time.Millisecond)
		if err != nil {
			t.Fatalf("reading the log: %v", err)
		}
		for _, m := range msgs {
			data, err := m.Data()
			if err != nil {
				t.Fatalf("reading log message %d: %v", m.Seq(), err)
			}
			b, err := statsig.DecodeBatch(data)
			if err != nil {
				t.Fatalf("log message %d is not a statsig.Batch: %v", m.Seq(), err)
			}
			out = append(out, stored{Raw: append([]byte(nil), data...), Batch: *b})
			if err := m.Ack(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if len(msgs) == 0 && (want < 0 || len(out) >= want) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("log holds %d batches, want %d", len(out), want)
		}
	}
	if want >= 0 && len(out) != want {
		t.Fatalf("log holds %d batches, want %d", len(out), want)
	}
	return out
}

// eventNames lists the names of a batch's events.
func eventNames(b statsig.Batch) []string {
	var names []string
	for _, e := range b.Events {
		names = append(names, e.EventName)
	}
	return names
}

// scrape fetches /metrics through the server's handler over HTTP.
func scrape(t testing.TB, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, body)
	}
	return string(body)
}

// metricValue returns the value of the sample named exactly series (name
// and labels, as exposed), or -1 when absent.
func metricValue(t testing.TB, exposition, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(exposition, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("metric %s: %v", series, err)
			}
			return v
		}
	}
	return -1
}

// eventsBody is a plain SDK request body with n custom events named
// prefix-0…prefix-(n-1), each with pad bytes of metadata.
func eventsBody(prefix string, n, pad int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"events":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"eventName":"%s-%d","user":{"userID":"u%d"},"time":1795534342000,"metadata":{"pad":"%s"}}`,
			prefix, i, i, strings.Repeat("x", pad))
	}
	b.WriteString(`],"statsigMetadata":{"sdkType":"test"}}`)
	return b.Bytes()
}
