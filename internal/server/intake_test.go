package server_test

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/statsig-bridge/statsig-bridge/internal/queue"
	"github.com/statsig-bridge/statsig-bridge/internal/server"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// TestIntakeStoresEveryFixtureRequest replays every captured SDK request
// exactly (path, query, headers, body bytes) and reads each batch back from
// the log.
func TestIntakeStoresEveryFixtureRequest(t *testing.T) {
	t.Parallel() // a log and server of its own
	in := openIntake(t)
	var all []fixture
	for _, dir := range []string{"go-sdk", "go-sdk-layers", "js-client", "node-core"} {
		all = append(all, loadFixtures(t, dir)...)
	}
	if len(all) < 7 {
		t.Fatalf("found %d fixture requests, want at least 7", len(all))
	}
	want := map[string]int{} // batch ID → events
	for _, f := range all {
		a := do(t, f.request(t, in.URL))
		n := f.decodedEvents(t)
		if a.Code != http.StatusAccepted || !a.Success {
			t.Fatalf("%s/%s: %d %s", f.Dir, f.Name, a.Code, a.Raw)
		}
		if a.Accepted != n || a.Rejected != 0 {
			t.Errorf("%s/%s: accepted %d rejected %d, want %d and 0", f.Dir, f.Name, a.Accepted, a.Rejected, n)
		}
		want[f.Dir+"/"+f.Name] = n
	}
	got := readLog(t, in.Log, len(all))
	// Batches are stored in request order: match them up one to one.
	for i, f := range all {
		b := got[i].Batch
		if n := want[f.Dir+"/"+f.Name]; len(b.Events) != n {
			t.Errorf("%s/%s: stored %d events, want %d", f.Dir, f.Name, len(b.Events), n)
		}
		if b.Source != statsig.SourceSDK || b.ID == "" || b.ReceivedAt == 0 {
			t.Errorf("%s/%s: stored batch lacks source, ID or receivedAt: %+v", f.Dir, f.Name, b)
		}
		for _, e := range b.Events {
			if e.ID == "" || e.EventName == "" {
				t.Errorf("%s/%s: stored event without ID or name: %+v", f.Dir, f.Name, e)
			}
		}
		if f.Dir == "js-client" && b.StableID == "" {
			t.Errorf("%s/%s: request-level stableID not kept", f.Dir, f.Name)
		}
		if ct := f.header("Statsig-Client-Time"); ct != "" && b.ClientTime == 0 {
			t.Errorf("%s/%s: STATSIG-CLIENT-TIME %s not kept", f.Dir, f.Name, ct)
		}
	}
}

// TestIntakeDecompresses shows every way an SDK marks (or fails to mark) a
// compressed body, and that Content-Type does not matter.
func TestIntakeDecompresses(t *testing.T) {
	t.Parallel() // a log and server of its own
	in := openIntake(t)
	plain := eventsBody("enc", 3, 20)
	gz := gzipBytes(t, plain)
	zs := zstdBytes(t, plain)
	cases := []struct {
		name    string
		query   string
		headers map[string]string
		body    []byte
	}{
		{"gzip with Content-Encoding", "", map[string]string{"Content-Encoding": "gzip", "Content-Type": "application/json"}, gz},
		{"gzip flagged only by gz=1", "?gz=1", nil, gz},
		{"gzip sniffed, no header, no flag", "", map[string]string{"Content-Type": "text/plain;charset=UTF-8"}, gz},
		{"zstd with lower-case header", "", map[string]string{"content-encoding": "zstd", "content-type": "application/json"}, zs},
		{"zstd sniffed", "", nil, zs},
		{"deflate (zlib)", "", map[string]string{"Content-Encoding": "deflate"}, zlibBytes(t, plain)},
		{"deflate (raw)", "", map[string]string{"Content-Encoding": "deflate"}, flateBytes(t, plain)},
		{"plain, odd Content-Type", "", map[string]string{"Content-Type": "application/octet-stream"}, plain},
		{"plain, no Content-Type", "", nil, plain},
		{"plain, identity", "", map[string]string{"Content-Encoding": "identity", "Content-Type": "text/plain"}, plain},
	}
	for _, c := range cases {
		a := do(t, post(t, in.URL+"/v1/log_event"+c.query, c.body, c.headers))
		if a.Code != http.StatusAccepted || a.Accepted != 3 {
			t.Errorf("%s: %d %s, want 202 with 3 accepted", c.name, a.Code, a.Raw)
		}
	}
	// Each distinct body is stored once (byte-identical retries dedupe), so
	// count stored events per batch instead of batches.
	for _, s := range readLog(t, in.Log, -1) {
		if names := eventNames(s.Batch); !slices.Equal(names, []string{"enc-0", "enc-1", "enc-2"}) {
			t.Errorf("stored events %v, want enc-0..2 decoded", names)
		}
	}

	t.Run("unknown encoding is refused", func(t *testing.T) {
		a := do(t, post(t, in.URL+"/v1/log_event", plain, map[string]string{"Content-Encoding": "br"}))
		if a.Code != http.StatusBadRequest || !strings.Contains(a.Error, "br") {
			t.Errorf("Content-Encoding br: %d %s, want 400 naming the encoding", a.Code, a.Raw)
		}
	})
	t.Run("corrupt gzip is refused", func(t *testing.T) {
		bad := append([]byte(nil), gz[:len(gz)/2]...)
		a := do(t, post(t, in.URL+"/v1/log_event", bad, map[string]string{"Content-Encoding": "gzip"}))
		if a.Code != http.StatusBadRequest || !strings.Contains(a.Error, "gzip") {
			t.Errorf("truncated gzip: %d %s, want 400 naming gzip", a.Code, a.Raw)
		}
	})
}

// TestIntakeAuth covers the key checks and that a key never leaves the
// bridge: not in answers, not in the stored batch.
func TestIntakeAuth(t *testing.T) {
	t.Parallel() // a log and server of its own
	body := eventsBody("auth", 2, 10)

	t.Run("no keys configured and AllowAnyKey", func(t *testing.T) {
		in := openIntake(t)
		for _, h := range []map[string]string{nil, {"STATSIG-API-KEY": "whatever"}} {
			if a := do(t, post(t, in.URL+"/v1/log_event", body, h)); a.Code != http.StatusAccepted {
				t.Errorf("headers %v: %d %s, want 202", h, a.Code, a.Raw)
			}
		}
	})

	t.Run("no keys configured, AllowAnyKey off", func(t *testing.T) {
		in := startIntake(t, server.Config{}, queue.Config{})
		if a := do(t, post(t, in.URL+"/v1/log_event", body, map[string]string{"STATSIG-API-KEY": "whatever"})); a.Code != http.StatusUnauthorized {
			t.Errorf("%d %s, want 401: with no keys and AllowAnyKey off nothing is accepted", a.Code, a.Raw)
		}
	})

	const key, other = "secret-key-0123456789-abcdefghij", "client-key-9876543210-zyxwvutsrq"
	in := startIntake(t, server.Config{APIKeys: []string{key, " " + other + " "}}, queue.Config{})
	accepted := []struct {
		name    string
		query   string
		headers map[string]string
	}{
		{"upper-case header", "", map[string]string{"STATSIG-API-KEY": key}},
		{"lower-case header", "", map[string]string{"statsig-api-key": key}},
		{"canonical header, second key (trimmed)", "", map[string]string{"Statsig-Api-Key": other}},
		{"query k=", "?k=" + key, nil},
	}
	for i, c := range accepted {
		// A distinct body each, so the log's deduplication cannot hide one.
		b := eventsBody("auth"+string(rune('a'+i)), 2, 10)
		a := do(t, post(t, in.URL+"/v1/rgstr"+c.query, b, c.headers))
		if a.Code != http.StatusAccepted {
			t.Errorf("%s: %d %s, want 202", c.name, a.Code, a.Raw)
		}
		if strings.Contains(a.Raw, key) || strings.Contains(a.Raw, other) {
			t.Errorf("%s: answer contains the key: %s", c.name, a.Raw)
		}
	}
	refused := []struct {
		name    string
		query   string
		headers map[string]string
		want    string
	}{
		{"missing", "", nil, "STATSIG-API-KEY"},
		{"empty header", "", map[string]string{"STATSIG-API-KEY": "  "}, "STATSIG-API-KEY"},
		{"wrong header", "", map[string]string{"STATSIG-API-KEY": "wrong-" + key}, "STATSIG-API-KEY"},
		{"prefix of a key", "", map[string]string{"STATSIG-API-KEY": key[:10]}, "STATSIG-API-KEY"},
		{"wrong query", "?k=nope", nil, "STATSIG-API-KEY"},
	}
	for _, c := range refused {
		a := do(t, post(t, in.URL+"/v1/log_event"+c.query, body, c.headers))
		if a.Code != http.StatusUnauthorized || a.Success || !strings.Contains(a.Error, c.want) {
			t.Errorf("%s: %d %s, want 401 naming %s", c.name, a.Code, a.Raw, c.want)
		}
		if strings.Contains(a.Raw, key) || strings.Contains(a.Raw, key[:10]) {
			t.Errorf("%s: answer echoes the key: %s", c.name, a.Raw)
		}
	}
	got := readLog(t, in.Log, len(accepted))
	keyIDs := map[string]bool{}
	for _, s := range got {
		if strings.Contains(string(s.Raw), key) || strings.Contains(string(s.Raw), other) {
			t.Errorf("stored batch contains an SDK key: %s", s.Raw)
		}
		if s.Batch.KeyID == "" {
			t.Errorf("stored batch has no keyId")
		}
		keyIDs[s.Batch.KeyID] = true
	}
	if len(keyIDs) != 2 {
		t.Errorf("stored keyIds %v: want one per key (2)", keyIDs)
	}
	m := scrape(t, in.URL)
	if v := metricValue(t, m, `statsig_bridge_rejected_requests_total{reason="missing_api_key"}`); v != 2 {
		t.Errorf("missing_api_key requests counted %v, want 2", v)
	}
	if v := metricValue(t, m, `statsig_bridge_rejected_requests_total{reason="invalid_api_key"}`); v != 3 {
		t.Errorf("invalid_api_key requests counted %v, want 3", v)
	}
}

func gzipBytes(t testing.TB, p []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(p); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func zstdBytes(t testing.TB, p []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(p, nil)
}

func zlibBytes(t testing.TB, p []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	w.Write(p)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func flateBytes(t testing.TB, p []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.DefaultCompression)
	w.Write(p)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestImportHeaderMarksBatchesAsImported: `statsig-bridge import` marks its
// requests so destinations can tell history from live traffic.
func TestImportHeaderMarksBatchesAsImported(t *testing.T) {
	t.Parallel() // a log and server of its own
	in := openIntake(t)
	body := []byte(`{"events":[{"eventName":"old","time":1700000000000,"user":{"userID":"u"}}]}`)
	if a := do(t, post(t, in.URL+"/v1/log_event", body, map[string]string{"Statsig-Bridge-Import": "1"})); a.Code != 202 {
		t.Fatalf("import request: %d %s", a.Code, a.Raw)
	}
	got := readLog(t, in.Log, 1)
	if got[0].Batch.Source != statsig.SourceImport {
		t.Fatalf("stored source %q, want %q", got[0].Batch.Source, statsig.SourceImport)
	}
}
