package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

const (
	badInputKey    = "client-e2e-key" // postEvents' key
	badInputSecret = "whsec-bad-input-0001"
)

// TestBadInputMatrix sends every kind of bad input a bridge on the open
// internet meets, as real bytes over real HTTP (a raw TCP connection where
// an HTTP client would not send them), and checks each answer: the status
// and a message naming the problem. Beside the rows, a stream of valid SDK
// requests runs the whole time and every request of it must be answered
// 202: bad input costs the others nothing (slow clients included, which
// hold more connections than the bridge has intake slots). At the end,
// every event any request was answered 202 for is at the sink exactly
// once, except the one too large for Segment, which is a dead letter.
func TestBadInputMatrix(t *testing.T) {
	s := newSink(t)
	cfg := testConfig(t, s.URL)
	cfg.Intake.APIKeys = []string{badInputKey}
	cfg.Intake.WebhookSecret = badInputSecret
	cfg.Intake.MaxConcurrentRequests = 4 // fewer than the slow clients below
	cfg.Server.ReadHeaderTimeout = time.Second
	cfg.Server.ReadTimeout = 2 * time.Second
	cfg.Server.WriteTimeout = 10 * time.Second
	b := startBridge(t, cfg)
	addr := b.Addr.String()
	stream := startValidStream(b.URL)
	defer stream.Stop()

	sdk := func(extra ...string) map[string]string {
		h := map[string]string{"STATSIG-API-KEY": badInputKey, "Content-Type": "application/json"}
		for i := 0; i+1 < len(extra); i += 2 {
			if extra[i+1] == "" {
				delete(h, extra[i])
			} else {
				h[extra[i]] = extra[i+1]
			}
		}
		return h
	}
	valid := func(marker string) []byte { return markedEvents("bad_input_valid", marker, 1, "") }
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	hookBody := []byte(`{"data":[{"eventName":"bad_input_webhook","userID":"hook-user","timestamp":` + now + `,"metadata":{"seq":"row-webhook"}}]}`)
	stale := strconv.FormatInt(time.Now().Add(-10*time.Minute).UnixMilli(), 10)
	hook := func(ts, sig string) map[string]string {
		return map[string]string{"Content-Type": "application/json", "X-Statsig-Request-Timestamp": ts, "X-Statsig-Signature": sig}
	}
	full := gzipped(t, valid("row-truncated-gzip"))
	zfull := zstded(t, valid("row-truncated-zstd"))
	deep := markedEvents("bad_input_deep", "row-deep", 1, `,"nested":`+strings.Repeat(`{"a":`, 10_000)+`1`+strings.Repeat(`}`, 10_000))
	// 100,000 small events: 5 MB, under max_body_bytes, over max_events.
	hundredK := []byte(`{"events":[` + strings.Repeat(`{"eventName":"bad_input_many","user":{"userID":"u"}},`, 100_000-1) +
		`{"eventName":"bad_input_many","user":{"userID":"u"}}]}`)
	big := markedEvents("bad_input_1mb", "row-1mb", 1, `,"blob":"`+strings.Repeat("x", 1<<20)+`"`)
	badUTF8 := markedEvents("bad_input_utf8", "row-utf8", 1, ",\"text\":\"caf\xc3 \xff\xfe end\"")

	type row struct {
		name    string
		path    string            // default /v1/log_event
		headers map[string]string // sent as given
		body    []byte
		raw     func(t *testing.T) rowAnswer // instead of an HTTP client request
		code    int                          // 0: the connection is closed with no answer
		want    string                       // in the answer's body
		markers []string                     // events the sink must get once (202 rows)
	}
	rows := []row{
		{name: "invalid JSON", headers: sdk(), body: []byte(`{"events":[{"eventName":"x"`),
			code: 400, want: "body is not valid JSON"},
		{name: "not JSON at all", headers: sdk(), body: []byte("hello, bridge"),
			code: 400, want: "body is not valid JSON"},
		{name: "events not an array", headers: sdk(), body: []byte(`{"events":{"eventName":"x"}}`),
			code: 400, want: `no \"events\" array`},
		{name: "empty body", headers: sdk(), body: nil,
			code: 400, want: "request body is empty"},
		{name: "wrong Content-Type: XML", headers: sdk("Content-Type", "application/xml"), body: []byte(`<events/>`),
			code: 415, want: `unsupported Content-Type \"application/xml\"`},
		{name: "wrong Content-Type: multipart form", headers: sdk("Content-Type", "multipart/form-data; boundary=x"), body: valid("row-x"),
			code: 415, want: `unsupported Content-Type \"multipart/form-data\"`},
		{name: "wrong charset", headers: sdk("Content-Type", "text/plain; charset=UTF-16"), body: valid("row-x"),
			code: 415, want: `unsupported charset \"UTF-16\"`},
		{name: "js-client uncompressed: text/plain, key in the query", path: "/v1/rgstr?k=" + badInputKey + "&st=javascript-client",
			headers: map[string]string{"Content-Type": "text/plain;charset=UTF-8"}, body: valid("row-text-plain"),
			code: 202, want: `"accepted":1`, markers: []string{"row-text-plain"}},
		{name: "js-client gzipped: no Content-Type, gz=1", path: "/v1/rgstr?k=" + badInputKey + "&gz=1",
			headers: map[string]string{}, body: gzipped(t, valid("row-gz-flag")),
			code: 202, want: `"accepted":1`, markers: []string{"row-gz-flag"}},
		{name: "truncated gzip", headers: sdk("Content-Encoding", "gzip"), body: full[:len(full)/2],
			code: 400, want: "gzip: unexpected EOF"},
		{name: "gzip bomb (64 MiB of zeros)", headers: sdk("Content-Encoding", "gzip"), body: gzipOfZeros(t, 64<<20),
			code: 413, want: "more than 10485760 bytes after gzip decompression"},
		{name: "truncated zstd", headers: sdk("Content-Encoding", "zstd"), body: zfull[:len(zfull)-6],
			code: 400, want: "zstd"},
		{name: "invalid zstd", headers: sdk("Content-Encoding", "zstd"), body: append([]byte{0x28, 0xb5, 0x2f, 0xfd}, bytes.Repeat([]byte{0xab}, 64)...),
			code: 400, want: "request body encoding is invalid: zstd"},
		{name: "unsupported Content-Encoding", headers: sdk("Content-Encoding", "br"), body: valid("row-x"),
			code: 400, want: `unsupported Content-Encoding \"br\"`},
		{name: "invalid UTF-8 in strings (kept, replaced by U+FFFD)", headers: sdk(), body: badUTF8,
			code: 202, want: `"accepted":1`, markers: []string{"row-utf8"}},
		{name: "metadata nested 10,000 levels", headers: sdk(), body: deep,
			code: 400, want: "nested deeper than 10000 levels"},
		{name: "1 MB metadata value (stored; a dead letter for Segment)", headers: sdk(), body: big,
			code: 202, want: `"accepted":1`},
		{name: "100,000 events in one request", headers: sdk(), body: hundredK,
			code: 413, want: "too many events in one request"},
		{name: "body over max_body_bytes", headers: sdk(), body: bytes.Repeat([]byte(" "), 10<<20+1),
			code: 413, want: "more than 10485760 bytes"},
		{name: "missing API key", headers: sdk("STATSIG-API-KEY", ""), body: valid("row-x"),
			code: 401, want: "missing STATSIG-API-KEY"},
		{name: "wrong API key", headers: sdk("STATSIG-API-KEY", "client-not-this-one"), body: valid("row-x"),
			code: 401, want: "not one of the keys this bridge accepts"},
		{name: "webhook signed", path: "/webhooks/statsig", headers: hook(now, statsig.Sign([]byte(badInputSecret), now, hookBody)), body: hookBody,
			code: 202, want: `"accepted":1`, markers: []string{"row-webhook"}},
		{name: "webhook without signature", path: "/webhooks/statsig", headers: hook(now, ""), body: hookBody,
			code: 401, want: "missing X-Statsig-Signature"},
		{name: "webhook with a bad signature", path: "/webhooks/statsig", headers: hook(now, statsig.Sign([]byte("another-secret"), now, hookBody)), body: hookBody,
			code: 401, want: "X-Statsig-Signature does not match the body"},
		{name: "webhook signed 10 minutes ago (replay)", path: "/webhooks/statsig", headers: hook(stale, statsig.Sign([]byte(badInputSecret), stale, hookBody)), body: hookBody,
			code: 401, want: "too far from now"},
		{name: "headers of 60 KiB (under max_header_bytes)", code: 202, want: `"accepted":1`, markers: []string{"row-big-header"},
			raw: func(t *testing.T) rowAnswer {
				body := valid("row-big-header")
				return rawRequest(t, addr, headFor(addr, "/v1/log_event", len(body), "STATSIG-API-KEY: "+badInputKey,
					"Content-Type: application/json", "Cookie: c="+strings.Repeat("y", 60<<10)), body)
			}},
		{name: "headers of 100 KiB (over max_header_bytes)", code: 431, want: "Request Header Fields Too Large",
			raw: func(t *testing.T) rowAnswer {
				body := valid("row-x")
				return rawRequest(t, addr, headFor(addr, "/v1/log_event", len(body), "STATSIG-API-KEY: "+badInputKey,
					"Content-Type: application/json", "Cookie: c="+strings.Repeat("y", 100<<10)), body)
			}},
		{name: "slow-loris: headers dribbled (3 connections)", code: 0, want: "no answer",
			raw: func(t *testing.T) rowAnswer {
				head := headFor(addr, "/v1/log_event", 2, "STATSIG-API-KEY: "+badInputKey, "Content-Type: application/json")
				as := dribble(t, addr, 3, head, nil, true, make(chan struct{}))
				for _, a := range as {
					// Cut off by read_header_timeout (1 s), not sooner.
					if a.took < 900*time.Millisecond || a.took > 6*time.Second {
						t.Errorf("a dribbling header sender was cut off after %s, want about 1s", a.took)
					}
				}
				return sameAnswer(as)
			}},
		{name: "slow-loris: body dribbled (6 connections, 4 intake slots)", code: 408, want: "the request body did not arrive in time",
			markers: []string{"row-beside-dribblers"},
			raw: func(t *testing.T) rowAnswer {
				body := valid("row-dribbled")
				// On /v1/rgstr (the same intake) so that the gauge of that
				// endpoint counts the dribblers alone: the valid stream and
				// the request beside go to /v1/log_event.
				head := headFor(addr, "/v1/rgstr", len(body), "STATSIG-API-KEY: "+badInputKey, "Content-Type: application/json")
				started := make(chan struct{})
				answers := make(chan []rowAnswer, 1)
				go func() { answers <- dribble(t, addr, 6, head, body, false, started) }()
				<-started
				const inHandler = `statsig_bridge_http_requests_in_flight{endpoint="rgstr"}`
				testwait.For(t, 10*time.Second, "all six dribblers inside the intake handler, sending their bodies", func() bool {
					v, _ := metric(t, b.URL, inHandler)
					return v == 6
				})
				if code, err := postEvents(http.DefaultClient, b.URL, valid("row-beside-dribblers")); code != http.StatusAccepted {
					t.Errorf("a valid request while six bodies were dribbling: %d %v, want 202", code, err)
				}
				as := <-answers
				for _, a := range as {
					// Cut off by read_timeout (2 s).
					if a.took < 1800*time.Millisecond || a.took > 7*time.Second {
						t.Errorf("a dribbling body sender was cut off after %s, want about 2s", a.took)
					}
				}
				return sameAnswer(as)
			}},
	}

	want := map[string]bool{}
	client := &http.Client{Timeout: 30 * time.Second}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			var a rowAnswer
			if r.raw != nil {
				a = r.raw(t)
			} else {
				a = clientRequest(t, client, b.URL, r.path, r.headers, r.body)
			}
			if a.code != r.code || !strings.Contains(a.body, r.want) {
				t.Fatalf("answered %d %q, want %d with %q", a.code, clip(a.body), r.code, r.want)
			}
			if a.code != 0 && a.code != http.StatusRequestHeaderFieldsTooLarge && !strings.HasPrefix(a.contentType, "application/json") {
				t.Errorf("answer's Content-Type %q, want JSON", a.contentType)
			}
			if a.code >= 400 && a.code != http.StatusRequestHeaderFieldsTooLarge && !strings.Contains(a.body, `"success":false`) {
				t.Errorf("refusal %q does not say success:false", clip(a.body))
			}
			for _, m := range r.markers {
				want[m] = true
			}
		})
	}

	stream.Stop()
	acked, failures := stream.Result()
	if len(failures) > 0 {
		t.Errorf("%d valid requests beside the matrix were not answered 202, e.g. %s", len(failures), failures[0])
	}
	if len(acked) < 20 {
		t.Errorf("only %d valid events were acknowledged beside the matrix", len(acked))
	}
	t.Logf("valid stream: %d events acknowledged beside %d rows", len(acked), len(rows))
	for m := range acked {
		want[m] = true
	}
	d := waitDelivered(t, s, want, 60*time.Second)
	for m := range want {
		if n := len(d[m]); n != 1 {
			t.Errorf("event %s arrived %d times, want once", m, n)
		}
	}
	if n, u := len(s.Messages()), s.Unique(); n != u {
		t.Errorf("the sink got %d messages for %d messageIds", n, u)
	}
	for _, m := range s.Messages() {
		if marker(m) == "row-utf8" {
			md, _ := dig(m, "properties", "metadata").(map[string]any)
			if got := md["text"]; got != "caf\uFFFD \uFFFD\uFFFD end" {
				t.Errorf("invalid UTF-8 arrived as %q, want each bad byte as U+FFFD", got)
			}
		}
		if !want[marker(m)] {
			t.Errorf("the sink got an event no 202 was answered for: %s %q", m["event"], marker(m))
		}
	}
	dead := deadLetters(t, b, "segment")
	if len(dead) != 1 || dead[0].Reason != "message_too_big" || dead[0].Event == nil || dead[0].Event.EventName != "bad_input_1mb" {
		t.Errorf("dead letters %+v, want the 1 MB event as message_too_big", dead)
	}
}

// clientRequest posts body with headers (names as given) through an HTTP
// client.
func clientRequest(t *testing.T, client *http.Client, base, path string, headers map[string]string, body []byte) rowAnswer {
	t.Helper()
	if path == "" {
		path = "/v1/log_event"
	}
	req, err := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header[k] = []string{v}
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return rowAnswer{code: resp.StatusCode, body: string(raw), contentType: resp.Header.Get("Content-Type"), took: time.Since(start)}
}

func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

// validStream posts valid SDK batches one after another until stopped,
// recording the events of every request answered 202 and every answer
// that was not.
type validStream struct {
	base string
	stop chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	acked    map[string]bool
	failures []string
}

func startValidStream(base string) *validStream {
	st := &validStream{base: base, stop: make(chan struct{}), acked: map[string]bool{}}
	client := &http.Client{Timeout: 10 * time.Second}
	st.wg.Add(1)
	go func() {
		defer st.wg.Done()
		for batch := 0; ; batch++ {
			select {
			case <-st.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			body, markers := sdkBody(77, batch, 5)
			code, err := postEvents(client, st.base, body)
			st.mu.Lock()
			if err == nil && code == http.StatusAccepted {
				for _, m := range markers {
					st.acked[m] = true
				}
			} else {
				st.failures = append(st.failures, fmt.Sprintf("batch %d: %d %v", batch, code, err))
			}
			st.mu.Unlock()
		}
	}()
	return st
}

// Stop ends the stream and waits for its last request.
func (st *validStream) Stop() {
	select {
	case <-st.stop:
	default:
		close(st.stop)
	}
	st.wg.Wait()
}

func (st *validStream) Result() (acked map[string]bool, failures []string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.acked, st.failures
}
