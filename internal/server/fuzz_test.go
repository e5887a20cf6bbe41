package server_test

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/statsig-bridge/statsig-bridge/internal/queue"
	"github.com/statsig-bridge/statsig-bridge/internal/server"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// The intake fuzz targets drive the real handler (routing, key check, body
// reading and decompression, query and header parsing, decoding, encoding
// for the log) in process. They stop at the log: capture stands in for it
// and hands back what would have been stored, so that the stored batch can
// be read back with the log's decoder. The log itself is tested over a real
// JetStream elsewhere.

// capture is a server.Publisher that keeps what it is given.
type capture struct {
	data  [][]byte
	msgID []string
}

func (c *capture) Store(_ context.Context, data []byte, msgID string) (queue.Stored, error) {
	c.data = append(c.data, bytes.Clone(data)) // the server reuses its buffer
	c.msgID = append(c.msgID, msgID)
	return queue.Stored{Seq: uint64(len(c.data))}, nil
}

func (c *capture) Ready(context.Context) error { return nil }

// fuzzMaxBody is small enough for a few hundred fuzzed bytes of gzip or
// zstd to inflate past it, and larger than every fixture.
const fuzzMaxBody = 128 << 10

// fuzzNow is the intake's clock: just after the webhook fixtures were signed.
var fuzzNow = time.UnixMilli(1795534352070).Add(2 * time.Second)

// fuzzTarget is a server and the capture standing in for its log; a fuzz
// worker runs one input at a time, so one of each serves them all.
type fuzzTarget struct {
	cp *capture
	h  http.Handler
}

func newFuzzTarget() *fuzzTarget {
	cp := &capture{}
	return &fuzzTarget{cp: cp, h: server.New(server.Config{
		AllowAnyKey: true, WebhookSecret: fixtureSecret,
		MaxBodyBytes: fuzzMaxBody, MaxEvents: 200,
		Now: func() time.Time { return fuzzNow },
	}, cp, prometheus.NewRegistry(), testLogger()).Handler()}
}

// fuzzResult is one handled request: the answer and what was stored.
type fuzzResult struct {
	answer
	stored []*statsig.Batch
}

// serve sends one request to the server and checks what holds for
// every intake answer: a JSON body; 202 (stored or nothing to store), 400,
// 401 or 413, never 5xx; a refusal stores nothing and names its problem;
// an acceptance stores at most one batch, under the batch's ID, that the
// log's decoder reads back as encoding/json does and re-encodes to the
// same bytes, with as many events as the answer says.
func (ft *fuzzTarget) serve(t *testing.T, req *http.Request) fuzzResult {
	t.Helper()
	cp := ft.cp
	*cp = capture{}
	rec := httptest.NewRecorder()
	ft.h.ServeHTTP(rec, req)
	res := fuzzResult{answer: answer{Code: rec.Code, Header: rec.Header(), Raw: rec.Body.String()}}
	if err := json.Unmarshal(rec.Body.Bytes(), &res.answer); err != nil {
		t.Fatalf("answer %d is not JSON: %q", rec.Code, rec.Body.Bytes())
	}
	switch rec.Code {
	case http.StatusAccepted:
		if !res.Success || res.Error != "" {
			t.Fatalf("202 with %s", res.Raw)
		}
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge:
		if res.Success || strings.TrimSpace(res.Error) == "" || len(cp.data) > 0 {
			t.Fatalf("%d with %s after %d stores", rec.Code, res.Raw, len(cp.data))
		}
		return res
	default:
		t.Fatalf("answered %d: %s", rec.Code, res.Raw)
	}
	if len(cp.data) > 1 || (len(cp.data) == 1) != (res.Accepted > 0) {
		t.Fatalf("%d stores for %d accepted events", len(cp.data), res.Accepted)
	}
	if res.Rejected != len(res.Rejections) && len(res.Rejections) != 100 {
		t.Fatalf("%d rejected, %d reasons listed", res.Rejected, len(res.Rejections))
	}
	for i, data := range cp.data {
		b, err := statsig.DecodeBatch(data)
		if err != nil {
			t.Fatalf("the stored batch does not decode: %v\n%s", err, data)
		}
		// Stored in the binary encoding, it reads back as its JSON does.
		if !statsig.IsBinaryBatch(data) {
			t.Fatalf("stored batch is not in the binary encoding: %q", data)
		}
		shown, err := statsig.BatchJSON(data)
		if err != nil {
			t.Fatalf("stored batch as JSON: %v", err)
		}
		var ref statsig.Batch
		if err := json.Unmarshal(shown, &ref); err != nil || !reflect.DeepEqual(*b, ref) {
			t.Fatalf("stored batch read back:\nDecodeBatch %+v\njson        %+v (%v)", b, ref, err)
		}
		again, err := b.AppendBinary(nil)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("stored batch re-encoded differently (%v):\n%q\n%q", err, data, again)
		}
		if b.ID == "" || b.ID != cp.msgID[i] || len(b.Events) != res.Accepted {
			t.Fatalf("stored batch %q under %q with %d events, answer accepted %d", b.ID, cp.msgID[i], len(b.Events), res.Accepted)
		}
		if got := b.ReceivedAt; got != fuzzNow.UnixMilli() {
			t.Fatalf("receivedAt %d, want %d", got, fuzzNow.UnixMilli())
		}
		ids := map[string]bool{}
		for _, e := range b.Events {
			if e.ID == "" || ids[e.ID] || e.EventName == "" {
				t.Fatalf("stored event with ID %q (seen %v), name %q", e.ID, ids[e.ID], e.EventName)
			}
			ids[e.ID] = true
		}
		res.stored = append(res.stored, b)
	}
	return res
}

// fuzzRequest builds a request as a client would send it; ok is false when
// no client could (the URL does not parse).
func fuzzRequest(path, query string, body []byte, header http.Header) (*http.Request, bool) {
	u, err := url.Parse("http://bridge" + path)
	if err != nil {
		return nil, false
	}
	for i := 0; i < len(query); i++ {
		if query[i] <= ' ' || query[i] >= 0x7f {
			return nil, false // not in a request line
		}
	}
	u.RawQuery = query
	req, err := http.NewRequest(http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, false
	}
	for k, vs := range header {
		for _, v := range vs {
			if !validHeaderValue(v) {
				return nil, false
			}
			req.Header.Add(k, v)
		}
	}
	return req, true
}

// validHeaderValue: what net/http would send and receive in a header.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return strings.TrimSpace(v) == v
}

// zstdEncoder is shared: EncodeAll may be called concurrently, and a new
// encoder per input would cost more than the request.
var zstdEncoder, _ = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))

// codecs compress a body as the SDKs do; the index is the fuzzed mode.
var codecs = []struct {
	name     string
	compress func(t *testing.T, b []byte) []byte
}{
	{"gzip", func(t *testing.T, b []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(b)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}},
	{"zstd", func(t *testing.T, b []byte) []byte { return zstdEncoder.EncodeAll(b, nil) }},
	{"deflate", func(t *testing.T, b []byte) []byte {
		var buf bytes.Buffer
		w := zlib.NewWriter(&buf)
		w.Write(b)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}},
}

// FuzzIntake sends a fuzzed SDK request (body as sent, Content-Encoding,
// query string, STATSIG-CLIENT-TIME) to /v1/log_event or /v1/rgstr. Besides
// serve's checks: compression is transparent — the body's plain bytes
// compressed with gzip, zstd or deflate (by header, or gzip by the
// js-client's gz=1) give the same answer and the same stored batch as the
// plain bytes sent uncompressed.
func FuzzIntake(f *testing.F) {
	for _, dir := range []string{"go-sdk", "go-sdk-layers", "js-client", "node-core"} {
		for _, fx := range loadFixtures(f, dir) {
			path, query, _ := strings.Cut(fx.Target, "?")
			f.Add(fx.Body, path == "/v1/rgstr", query, fx.header("Content-Encoding"), fx.header("Statsig-Client-Time"), uint8(0))
			if plain, err := server.Decompress(fx.Body, fx.header("Content-Encoding"), strings.Contains(query, "gz=1"), fuzzMaxBody); err == nil {
				f.Add(plain, path == "/v1/rgstr", strings.ReplaceAll(query, "gz=1", "gz=0"), "", "", uint8(1))
			}
		}
	}
	f.Add([]byte(`{"events":[{"eventName":"a","time":1795534342000},{"eventName":""},7]}`), false, "k=x&t=1795534343000", "identity", "abc", uint8(2))
	f.Add([]byte(`[{"eventName":"bare"}]`), true, "gz=1", "", "-5", uint8(3))
	f.Add([]byte(`{"events":[]}`), false, "", "br", "", uint8(0))
	ft := newFuzzTarget()
	f.Fuzz(func(t *testing.T, body []byte, rgstr bool, query, encoding, clientTime string, mode uint8) {
		path := "/v1/log_event"
		if rgstr {
			path = "/v1/rgstr"
		}
		h := http.Header{}
		if encoding != "" {
			h.Set("Content-Encoding", encoding)
		}
		if clientTime != "" {
			h.Set("Statsig-Client-Time", clientTime)
		}
		req, ok := fuzzRequest(path, query, body, h)
		if !ok {
			return
		}
		ft.serve(t, req)

		// Transparency: body taken as the plain bytes, sent compressed
		// and uncompressed, without the fuzzed encoding or gz flag.
		if len(body) > fuzzMaxBody-1024 || bytes.HasPrefix(body, []byte{0x1f, 0x8b}) || bytes.HasPrefix(body, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
			return // magic bytes make a plain body a compressed one
		}
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		q.Del("gz")
		h.Del("Content-Encoding")
		plainReq, ok := fuzzRequest(path, q.Encode(), body, h)
		if !ok {
			return
		}
		plain := ft.serve(t, plainReq)
		c := codecs[int(mode)%len(codecs)]
		zh := h.Clone()
		if c.name == "gzip" && mode&4 != 0 {
			q.Set("gz", "1") // the js-client's way: no header
		} else {
			zh.Set("Content-Encoding", c.name)
		}
		zReq, _ := fuzzRequest(path, q.Encode(), c.compress(t, body), zh)
		z := ft.serve(t, zReq)
		if z.Code != plain.Code || !reflect.DeepEqual(z.stored, plain.stored) || z.Accepted != plain.Accepted || z.Rejected != plain.Rejected {
			t.Fatalf("%s body: %d %s stored %+v\nplain: %d %s stored %+v", c.name, z.Code, z.Raw, z.stored, plain.Code, plain.Raw, plain.stored)
		}
	})
}

// FuzzWebhookIntake posts a fuzzed Generic Webhook request. Besides
// serve's checks: a request is stored only when its signature is the
// body's (sig empty means: sign it properly) and its timestamp within five
// minutes of now; a properly signed, fresh request is never refused as
// unauthorized.
func FuzzWebhookIntake(f *testing.F) {
	for _, fx := range loadFixtures(f, "webhook") {
		f.Add(fx.Body, fx.header("X-Statsig-Request-Timestamp"), "", "")
		f.Add(fx.Body, fx.header("X-Statsig-Request-Timestamp"), fx.header("X-Statsig-Signature"), "")
	}
	f.Add([]byte(`{"data":[{"eventName":"e","timestamp":"1795534352000","user":{"userID":"u"}}]}`), "1795534352", "", "gzip")
	f.Add([]byte(`[]`), "1795534352070", "v0=00", "")
	ft := newFuzzTarget()
	f.Fuzz(func(t *testing.T, body []byte, ts, sig, encoding string) {
		signed := sig == ""
		if signed {
			sig = statsig.Sign([]byte(fixtureSecret), ts, body)
		}
		h := http.Header{}
		h.Set("X-Statsig-Request-Timestamp", ts)
		h.Set("X-Statsig-Signature", sig)
		if encoding != "" {
			h.Set("Content-Encoding", encoding)
		}
		req, ok := fuzzRequest("/webhooks/statsig", "", body, h)
		if !ok {
			return
		}
		res := ft.serve(t, req)
		fresh := false
		if ms, ok := parseDecimal(ts); ok {
			if ms < 1e11 {
				ms *= 1000
			}
			d := fuzzNow.UnixMilli() - ms
			fresh = d >= -5*60*1000 && d <= 5*60*1000
		}
		right := sig == statsig.Sign([]byte(fixtureSecret), ts, body)
		if res.Code != http.StatusUnauthorized && !(right && fresh) {
			t.Fatalf("answered %d (%s) to signature %q (right %v), timestamp %q (fresh %v)", res.Code, res.Raw, sig, right, ts, fresh)
		}
		if signed && fresh && res.Code == http.StatusUnauthorized {
			t.Fatalf("a signed, fresh request refused: %s", res.Raw)
		}
	})
}

// parseDecimal reads an optionally signed decimal integer of at most 15
// digits (larger values are never fresh), as the reference for timestamps.
func parseDecimal(s string) (int64, bool) {
	neg := strings.HasPrefix(s, "-")
	if neg || strings.HasPrefix(s, "+") {
		s = s[1:]
	}
	if s == "" {
		return 0, false
	}
	s = strings.TrimLeft(s, "0")
	if len(s) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}
