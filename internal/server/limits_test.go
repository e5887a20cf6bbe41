package server_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/statsig-bridge/statsig-bridge/internal/queue"
	"github.com/statsig-bridge/statsig-bridge/internal/server"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

func TestIntakeRefusesOversizedBodies(t *testing.T) {
	t.Parallel() // a log and server of its own
	const limit = 4 << 10
	in := startIntake(t, server.Config{AllowAnyKey: true, MaxBodyBytes: limit, MaxEvents: 5}, queue.Config{})

	t.Run("plain body over MaxBodyBytes", func(t *testing.T) {
		body := eventsBody("big", 3, limit)
		a := do(t, post(t, in.URL+"/v1/log_event", body, nil))
		if a.Code != http.StatusRequestEntityTooLarge || !strings.Contains(a.Error, strconv.Itoa(limit)) {
			t.Errorf("%d-byte body: %d %s, want 413 naming the limit %d", len(body), a.Code, a.Raw, limit)
		}
	})
	t.Run("gzip body small on the wire, over the limit inflated", func(t *testing.T) {
		body := eventsBody("big", 3, limit)
		gz := gzipBytes(t, body)
		if len(gz) >= limit {
			t.Fatalf("test body compresses to %d bytes, want under %d", len(gz), limit)
		}
		a := do(t, post(t, in.URL+"/v1/log_event", gz, map[string]string{"Content-Encoding": "gzip"}))
		if a.Code != http.StatusRequestEntityTooLarge || !strings.Contains(a.Error, strconv.Itoa(limit)) {
			t.Errorf("%d bytes gzip (%d inflated): %d %s, want 413 naming the limit", len(gz), len(body), a.Code, a.Raw)
		}
	})
	t.Run("too many events", func(t *testing.T) {
		a := do(t, post(t, in.URL+"/v1/log_event", eventsBody("many", 6, 0), nil))
		if a.Code != http.StatusRequestEntityTooLarge || !strings.Contains(a.Error, "too many events") || !strings.Contains(a.Error, "5") {
			t.Errorf("6 events, limit 5: %d %s, want 413 naming too many events and the limit", a.Code, a.Raw)
		}
		if a := do(t, post(t, in.URL+"/v1/log_event", eventsBody("many", 5, 0), nil)); a.Code != http.StatusAccepted {
			t.Errorf("5 events, limit 5: %d %s, want 202", a.Code, a.Raw)
		}
	})
	got := readLog(t, in.Log, 1)
	if n := len(got[0].Batch.Events); n != 5 {
		t.Errorf("stored %d events, want only the 5 of the accepted request", n)
	}
	m := scrape(t, in.URL)
	for reason, want := range map[string]float64{"body_too_large": 2, "too_many_events": 1} {
		if v := metricValue(t, m, `statsig_bridge_rejected_requests_total{reason="`+reason+`"}`); v != want {
			t.Errorf("rejected_requests_total{reason=%q} = %v, want %v", reason, v, want)
		}
	}
}

// TestIntakeRefusesGzipBombWithoutInflatingIt posts 1 GiB of zeros
// compressed to about 1 MB against a 10 MiB limit: the answer is 413 and the
// handler allocates nowhere near the inflated size.
func TestIntakeRefusesGzipBombWithoutInflatingIt(t *testing.T) {
	t.Parallel() // a log and server of its own
	if testing.Short() {
		t.Skip("builds a 1 GiB gzip bomb")
	}
	in := startIntake(t, server.Config{AllowAnyKey: true, MaxBodyBytes: 10 << 20}, queue.Config{})
	bomb := gzipBomb(t, 1<<30)
	t.Logf("bomb: 1 GiB of zeros in %d bytes of gzip", len(bomb))
	if len(bomb) >= 10<<20 {
		t.Fatalf("bomb is %d bytes compressed, must be under the 10 MiB limit to test inflation", len(bomb))
	}
	req := post(t, in.URL+"/v1/log_event", bomb, map[string]string{"Content-Encoding": "gzip", "STATSIG-API-KEY": "k"})

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	a := do(t, req)
	runtime.ReadMemStats(&after)

	if a.Code != http.StatusRequestEntityTooLarge || !strings.Contains(a.Error, strconv.Itoa(10<<20)) {
		t.Errorf("gzip bomb: %d %s, want 413 naming the limit", a.Code, a.Raw)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %.1f MB while handling the bomb", float64(alloc)/1e6)
	if alloc > 100<<20 {
		t.Errorf("handling the bomb allocated %d MB: it was inflated far past the 10 MiB limit", alloc>>20)
	}
}

// TestIntakeRefusesZstdWindowBomb posts a 100-byte zstd frame that declares
// a 512 MiB window: the decoder would allocate the window before inflating
// anything, so the frame is refused instead.
func TestIntakeRefusesZstdWindowBomb(t *testing.T) {
	t.Parallel() // a log and server of its own
	in := startIntake(t, server.Config{AllowAnyKey: true, MaxBodyBytes: 10 << 20}, queue.Config{})
	frame := zstdFrame(0x98, []byte(`{"events":[]}`)) // window descriptor 0x98: 2^(10+19) bytes
	req := post(t, in.URL+"/v1/log_event", frame, map[string]string{"Content-Encoding": "zstd", "STATSIG-API-KEY": "k"})

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	a := do(t, req)
	runtime.ReadMemStats(&after)

	if a.Code != http.StatusBadRequest {
		t.Errorf("%d-byte zstd frame declaring a 512 MiB window: %d %s, want 400", len(frame), a.Code, a.Raw)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %.1f MB while handling the frame", float64(alloc)/1e6)
	if alloc > 100<<20 {
		t.Errorf("handling a %d-byte frame allocated %d MB", len(frame), alloc>>20)
	}

	// An 8 MiB window, what zstd's highest regular levels declare, is fine.
	body := eventsBody("zstd", 2, 0)
	a = do(t, post(t, in.URL+"/v1/log_event", zstdFrame(0x68, body), map[string]string{"Content-Encoding": "zstd", "STATSIG-API-KEY": "k"}))
	if a.Code != http.StatusAccepted {
		t.Errorf("zstd frame with an 8 MiB window: %d %s, want 202", a.Code, a.Raw)
	}
}

// zstdFrame writes content as a zstd frame with the given window
// descriptor and no content size (as a streaming encoder does), in one raw
// block.
func zstdFrame(windowDescriptor byte, content []byte) []byte {
	frame := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, windowDescriptor}
	h := uint32(1) | uint32(len(content))<<3 // last block, raw, size
	frame = append(frame, byte(h), byte(h>>8), byte(h>>16))
	return append(frame, content...)
}

// gzipBomb returns n zero bytes as gzip, about n/1000 bytes on the wire.
// A streaming gzip writer compresses 8 MiB of zeros once; the bomb is that
// member repeated (RFC 1952 allows any number of members, and every gzip
// reader inflates them as one stream). Compressing the whole GiB would take
// over a minute under -race for the same bytes on the wire.
func gzipBomb(t testing.TB, n int64) []byte {
	t.Helper()
	const chunk = 8 << 20
	var member bytes.Buffer
	zw, err := gzip.NewWriterLevel(&member, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(zw, zeros{}, chunk); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	// Check the construction: one member inflates to chunk bytes (so n/chunk
	// members inflate to n).
	zr, err := gzip.NewReader(bytes.NewReader(member.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.Copy(io.Discard, zr); err != nil || got != chunk {
		t.Fatalf("a bomb member inflates to %d bytes (%v), want %d", got, err, chunk)
	}
	return bytes.Repeat(member.Bytes(), int(n/chunk))
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestIntakeRefusesMalformedBodies(t *testing.T) {
	t.Parallel() // a log and server of its own
	in := openIntake(t)
	cases := []struct {
		name, body string
		want       []string
	}{
		{"not JSON", `{"events":[{"eventName":"a"}`, []string{"not valid JSON"}},
		{"garbage", `hello`, []string{"not valid JSON"}},
		{"empty body", ``, []string{"JSON"}},
		{"events missing", `{"statsigMetadata":{"sdkType":"x"}}`, []string{`"events"`}},
		{"events null", `{"events":null}`, []string{`"events"`}},
		{"events not an array", `{"events":{"eventName":"a"}}`, []string{`"events"`}},
		{"events a string", `{"events":"a"}`, []string{`"events"`}},
	}
	for _, c := range cases {
		a := do(t, post(t, in.URL+"/v1/log_event", []byte(c.body), nil))
		if a.Code != http.StatusBadRequest || a.Success {
			t.Errorf("%s: %d %s, want 400", c.name, a.Code, a.Raw)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(a.Error, w) {
				t.Errorf("%s: error %q does not name %s", c.name, a.Error, w)
			}
		}
	}
	if got := readLog(t, in.Log, -1); len(got) != 0 {
		t.Errorf("malformed requests stored %d batches", len(got))
	}
}

// TestIntakeKeepsValidEventsOfMixedBatch: bad events are refused one by one
// with their index and reason; the good ones are stored.
func TestIntakeKeepsValidEventsOfMixedBatch(t *testing.T) {
	t.Parallel() // a log and server of its own
	in := openIntake(t)
	body := `{"events":[
		{"eventName":"good-0","user":{"userID":"u1"}},
		{"user":{"userID":"u1"}},
		{"eventName":42},
		{"eventName":"bad-time","time":"yesterday"},
		"not an object",
		{"eventName":"good-1","time":"2026-11-24T15:32:32.070Z"},
		{"eventName":"   "},
		7,
		{"eventName":"good-2","time":"1795534352070"}
	]}`
	a := do(t, post(t, in.URL+"/v1/log_event", []byte(body), nil))
	if a.Code != http.StatusAccepted || !a.Success {
		t.Fatalf("mixed batch: %d %s, want 202", a.Code, a.Raw)
	}
	if a.Accepted != 3 || a.Rejected != 6 {
		t.Errorf("accepted %d rejected %d, want 3 and 6", a.Accepted, a.Rejected)
	}
	wantRejections := []statsig.Rejection{
		{Index: 1, Reason: statsig.ReasonNameMissing},
		{Index: 2, Reason: statsig.ReasonNameNotString},
		{Index: 3, Reason: statsig.ReasonInvalidTime},
		{Index: 4, Reason: statsig.ReasonNotObject},
		{Index: 6, Reason: statsig.ReasonNameMissing},
		{Index: 7, Reason: statsig.ReasonNotObject},
	}
	if len(a.Rejections) != len(wantRejections) {
		t.Fatalf("rejections %+v, want %+v", a.Rejections, wantRejections)
	}
	for i, w := range wantRejections {
		if got := a.Rejections[i]; got.Index != w.Index || got.Reason != w.Reason || got.Detail == "" {
			t.Errorf("rejection %d: %+v, want index %d reason %s with a detail", i, got, w.Index, w.Reason)
		}
	}

	allBad := `{"events":[{"eventName":""},{"eventName":["x"]},{"eventName":"t","time":{}}]}`
	b := do(t, post(t, in.URL+"/v1/log_event", []byte(allBad), nil))
	if b.Code != http.StatusBadRequest || b.Success || b.Rejected != 3 || len(b.Rejections) != 3 ||
		!strings.Contains(b.Error, "no valid event") {
		t.Errorf("all-invalid batch: %d %s, want 400 with 3 rejections and reasons", b.Code, b.Raw)
	}

	got := readLog(t, in.Log, 1)
	if names := eventNames(got[0].Batch); !slices.Equal(names, []string{"good-0", "good-1", "good-2"}) {
		t.Errorf("stored events %v, want only good-0, good-1, good-2", names)
	}
	if e := got[0].Batch.Events[1]; e.Time != 1795534352070 {
		t.Errorf("RFC 3339 time stored as %d, want 1795534352070", e.Time)
	}

	m := scrape(t, in.URL)
	want := map[string]float64{
		statsig.ReasonNameMissing:   2 + 1,
		statsig.ReasonNameNotString: 1 + 1,
		statsig.ReasonInvalidTime:   1 + 1,
		statsig.ReasonNotObject:     2,
	}
	// Segment's codes (conformance check 7), and for one release the
	// former names as well.
	if statsig.ReasonNameMissing != "event_not_defined" || statsig.ReasonNameNotString != "event_not_string" {
		t.Errorf("name reasons %q, %q, want Segment's event_not_defined and event_not_string", statsig.ReasonNameMissing, statsig.ReasonNameNotString)
	}
	want["event_name_missing"] = want[statsig.ReasonNameMissing]
	want["event_name_not_string"] = want[statsig.ReasonNameNotString]
	for reason, n := range want {
		series := fmt.Sprintf(`statsig_bridge_rejected_events_total{reason=%q}`, reason)
		if v := metricValue(t, m, series); v != n {
			t.Errorf("%s = %v, want %v", series, v, n)
		}
	}
	if v := metricValue(t, m, `statsig_bridge_received_events_total{source="sdk"}`); v != 3 {
		t.Errorf("received_events_total{source=sdk} = %v, want 3", v)
	}
}

// TestIntakeRefusesBatchLargerThanLog: a request within MaxBodyBytes whose
// batch is larger than the log accepts can never be stored; retrying will
// not help, so it is 413, not 503.
func TestIntakeRefusesBatchLargerThanLog(t *testing.T) {
	t.Parallel() // a log and server of its own
	in := startIntake(t, server.Config{AllowAnyKey: true}, queue.Config{MaxMsgSize: 16 << 10, MaxBytes: 1 << 20})
	a := do(t, post(t, in.URL+"/v1/log_event", eventsBody("huge", 4, 8<<10), nil))
	if a.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("batch over the log's max message size: %d (Retry-After %q) %s, want 413", a.Code, a.Header.Get("Retry-After"), a.Raw)
	}
	if a := do(t, post(t, in.URL+"/v1/log_event", eventsBody("small", 4, 100), nil)); a.Code != http.StatusAccepted {
		t.Errorf("small batch after it: %d %s, want 202", a.Code, a.Raw)
	}
}
