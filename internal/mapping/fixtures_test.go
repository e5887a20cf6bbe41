package mapping_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"

	"github.com/klauspost/compress/zstd"

	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// fixturesDir holds the captured Statsig requests, unchanged from
// ../shared/fixtures/statsig.
var fixturesDir = filepath.Join("..", "..", "testdata", "fixtures")

// receiveDelay is the fixed transit time the tests assume between a
// client's send and the bridge's arrival, so that clock-skew correction is
// visible in the goldens and deterministic.
const receiveDelay = 150 * time.Millisecond

// webhookSecret signs the webhook fixtures (see the fixtures README).
const webhookSecret = "fixture-signing-secret"

// fixtureRequest is one captured request: NAME.headers + NAME.body.
type fixtureRequest struct {
	Folder string // go-sdk, js-client, webhook, …
	Name   string // log_event-1, rgstr-2, batch-1, …
	Path   string
	Query  url.Values
	Header http.Header
	Raw    []byte // the body as sent (maybe compressed)
}

// loadFixtureRequests finds every NAME.headers/NAME.body pair under
// testdata/fixtures, in a stable order.
func loadFixtureRequests(t testing.TB) []fixtureRequest {
	t.Helper()
	headers, err := filepath.Glob(filepath.Join(fixturesDir, "*", "*.headers"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(headers)
	if len(headers) == 0 {
		t.Fatalf("no fixture requests under %s", fixturesDir)
	}
	var out []fixtureRequest
	for _, h := range headers {
		out = append(out, readFixtureRequest(t, h))
	}
	return out
}

func readFixtureRequest(t testing.TB, headersPath string) fixtureRequest {
	t.Helper()
	hraw, err := os.ReadFile(headersPath)
	if err != nil {
		t.Fatal(err)
	}
	base := strings.TrimSuffix(headersPath, ".headers")
	body, err := os.ReadFile(base + ".body")
	if err != nil {
		t.Fatalf("fixture %s has headers but no body: %v", headersPath, err)
	}
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(hraw, '\n', '\n'))))
	line, err := r.ReadLine()
	if err != nil {
		t.Fatalf("%s: request line: %v", headersPath, err)
	}
	fields := strings.Fields(line)
	if len(fields) < 2 {
		t.Fatalf("%s: bad request line %q", headersPath, line)
	}
	u, err := url.ParseRequestURI(fields[1])
	if err != nil {
		t.Fatalf("%s: bad request target %q: %v", headersPath, fields[1], err)
	}
	mh, err := r.ReadMIMEHeader()
	if err != nil && err != io.EOF {
		t.Fatalf("%s: headers: %v", headersPath, err)
	}
	return fixtureRequest{
		Folder: filepath.Base(filepath.Dir(headersPath)),
		Name:   filepath.Base(base),
		Path:   u.Path,
		Query:  u.Query(),
		Header: http.Header(mh),
		Raw:    body,
	}
}

// IsWebhook reports whether the request is a Generic Webhook batch.
func (f *fixtureRequest) IsWebhook() bool { return strings.HasPrefix(f.Path, "/webhooks/") }

func (f *fixtureRequest) headerOrQuery(header, query string) string {
	if v := f.Header.Get(header); v != "" {
		return v
	}
	return f.Query.Get(query)
}

// ClientTime is STATSIG-CLIENT-TIME or the js-client's t= (Unix ms).
func (f *fixtureRequest) ClientTime(t testing.TB) int64 {
	v := f.headerOrQuery("Statsig-Client-Time", "t")
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("%s/%s: client time %q: %v", f.Folder, f.Name, v, err)
	}
	return ms
}

// ReceivedAt is the fixed arrival time used for the request: the sender's
// clock plus receiveDelay.
func (f *fixtureRequest) ReceivedAt(t testing.TB) time.Time {
	if f.IsWebhook() {
		ms, err := strconv.ParseInt(f.Header.Get("X-Statsig-Request-Timestamp"), 10, 64)
		if err != nil {
			t.Fatalf("%s/%s: webhook timestamp: %v", f.Folder, f.Name, err)
		}
		return time.UnixMilli(ms).Add(receiveDelay)
	}
	return time.UnixMilli(f.ClientTime(t)).Add(receiveDelay)
}

// Body returns the decompressed body, sniffing gzip and zstd magic bytes as
// the intake does (the js-client sends gzip with no Content-Encoding).
func (f *fixtureRequest) Body(t testing.TB) []byte {
	t.Helper()
	return decompress(t, f.Raw)
}

func decompress(t testing.TB, raw []byte) []byte {
	t.Helper()
	switch {
	case bytes.HasPrefix(raw, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		out, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		return out
	case bytes.HasPrefix(raw, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		d, err := zstd.NewReader(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		out, err := d.DecodeAll(raw, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	return raw
}

// Decode decodes the request as the intake does, with ReceivedAt fixed, and
// fails the test on any rejection: every captured request must be accepted.
func (f *fixtureRequest) Decode(t testing.TB) *statsig.Batch {
	t.Helper()
	body := f.Body(t)
	received := f.ReceivedAt(t)
	var (
		b   *statsig.Batch
		rej []statsig.Rejection
		err error
	)
	if f.IsWebhook() {
		ts := f.Header.Get("X-Statsig-Request-Timestamp")
		if err := statsig.VerifySignature([]byte(webhookSecret), ts, f.Header.Get("X-Statsig-Signature"), f.Raw, received, 5*time.Minute); err != nil {
			t.Fatalf("%s/%s: signature: %v", f.Folder, f.Name, err)
		}
		b, rej, err = statsig.DecodeWebhook(body, received, 0)
	} else {
		b, rej, err = statsig.DecodeRequest(body, statsig.RequestInfo{
			ReceivedAt: received,
			ClientTime: f.ClientTime(t),
			SDKKey:     f.headerOrQuery("Statsig-Api-Key", "k"),
			SDKType:    f.headerOrQuery("Statsig-Sdk-Type", "st"),
			SDKVersion: f.headerOrQuery("Statsig-Sdk-Version", "sv"),
			SessionID:  f.headerOrQuery("Statsig-Server-Session-Id", "sid"),
		})
	}
	if err != nil {
		t.Fatalf("%s/%s: refused: %v", f.Folder, f.Name, err)
	}
	if len(rej) != 0 {
		t.Fatalf("%s/%s: %d events rejected: %+v", f.Folder, f.Name, len(rej), rej)
	}
	if len(b.Events) == 0 {
		t.Fatalf("%s/%s: no events", f.Folder, f.Name)
	}
	if n := f.Header.Get("Statsig-Event-Count"); n != "" && n != strconv.Itoa(len(b.Events)) {
		t.Fatalf("%s/%s: %d events decoded, Statsig-Event-Count says %s", f.Folder, f.Name, len(b.Events), n)
	}
	return b
}

// loadSpecs reads the folder's download_config_specs.json; nil when the
// folder has none (webhook).
func loadSpecs(t testing.TB, folder string) *statsig.Specs {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(fixturesDir, folder, "download_config_specs.json"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	s, err := statsig.ParseSpecs(raw)
	if err != nil || s == nil {
		t.Fatalf("%s: specs: %v", folder, err)
	}
	return s
}

// mappedEvent is one event of a fixture and what the default mapping made
// of it.
type mappedEvent struct {
	Event  *statsig.Event
	Result mapping.Result
	// JSON is Track.AppendJSON for a mapped or invalid event, else nil.
	JSON []byte
}

// mappedFixture is one fixture request, decoded and mapped.
type mappedFixture struct {
	Req    fixtureRequest
	Batch  *statsig.Batch
	Events []mappedEvent
}

// mapFixtures decodes and maps every fixture request with the default
// options and the folder's config specs.
func mapFixtures(t testing.TB) []mappedFixture {
	t.Helper()
	specs := map[string]*statsig.Specs{}
	var out []mappedFixture
	for _, req := range loadFixtureRequests(t) {
		s, ok := specs[req.Folder]
		if !ok {
			s = loadSpecs(t, req.Folder)
			specs[req.Folder] = s
		}
		var specsFn func() *statsig.Specs
		if s != nil {
			specsFn = func() *statsig.Specs { return s }
		}
		m := mapping.New(mappingconfig.Options{}, specsFn, mapping.Library{Name: "statsig-bridge", Version: "test"})
		b := req.Decode(t)
		mf := mappedFixture{Req: req, Batch: b}
		for i := range b.Events {
			e := &b.Events[i]
			res := m.Map(b, e)
			me := mappedEvent{Event: e, Result: res}
			if res.Status != mapping.Filtered {
				me.JSON = res.Track.AppendJSON(nil)
			}
			mf.Events = append(mf.Events, me)
		}
		out = append(out, mf)
	}
	return out
}

// statusName is the golden files' word for a mapping status.
func statusName(s mapping.Status) string {
	switch s {
	case mapping.Mapped:
		return "send"
	case mapping.Filtered:
		return "filtered"
	case mapping.Invalid:
		return "dead_letter"
	}
	return "unknown"
}
