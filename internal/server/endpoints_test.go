package server_test

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"

	"github.com/statsig-bridge/statsig-bridge/internal/delivery"
	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/destination/segmentapi"
	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
	"github.com/statsig-bridge/statsig-bridge/internal/queue"
	"github.com/statsig-bridge/statsig-bridge/internal/segment"
	"github.com/statsig-bridge/statsig-bridge/internal/server"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

func TestOtherEndpoints(t *testing.T) {
	t.Parallel() // a log and server of its own
	in := openIntake(t)

	a := do(t, post(t, in.URL+"/v1/sdk_exception", []byte(`{"exception":"boom","info":"{}"}`), map[string]string{"Content-Type": "application/json"}))
	if a.Code != http.StatusAccepted || !a.Success {
		t.Errorf("/v1/sdk_exception: %d %s, want 202", a.Code, a.Raw)
	}
	if v := metricValue(t, scrape(t, in.URL), "statsig_bridge_sdk_exceptions_total"); v != 1 {
		t.Errorf("sdk_exceptions_total = %v, want 1", v)
	}

	for _, c := range []struct{ method, path string }{
		{http.MethodPost, "/v1/initialize"},
		{http.MethodGet, "/v1/download_config_specs/x.json"},
		{http.MethodPost, "/v1/get_id_lists"},
	} {
		req, _ := http.NewRequest(c.method, in.URL+c.path, strings.NewReader("{}"))
		a := do(t, req)
		if a.Code != http.StatusNotFound || !strings.Contains(a.Error, "statsig-bridge") {
			t.Errorf("%s %s: %d %s, want 404 JSON naming the bridge", c.method, c.path, a.Code, a.Raw)
		}
	}

	if a := get(t, in.URL+"/healthz"); a.Code != http.StatusOK {
		t.Errorf("/healthz: %d %s", a.Code, a.Raw)
	}
	if a := get(t, in.URL+"/readyz"); a.Code != http.StatusOK {
		t.Errorf("/readyz with the log open: %d %s, want 200", a.Code, a.Raw)
	}
	if err := in.Log.Close(); err != nil {
		t.Fatal(err)
	}
	if a := get(t, in.URL+"/readyz"); a.Code != http.StatusServiceUnavailable {
		t.Errorf("/readyz after the log closed: %d %s, want 503", a.Code, a.Raw)
	}
	if a := get(t, in.URL+"/healthz"); a.Code != http.StatusOK {
		t.Errorf("/healthz after the log closed: %d %s, want 200 (alive, not ready)", a.Code, a.Raw)
	}
	// With the log gone an event post cannot be stored: 503, never 202.
	a = do(t, post(t, in.URL+"/v1/log_event", eventsBody("closed", 1, 0), nil))
	if a.Code != http.StatusServiceUnavailable || a.Header.Get("Retry-After") == "" {
		t.Errorf("post with the log closed: %d %s, want 503 with Retry-After", a.Code, a.Raw)
	}
}

// TestWrongMethodOnIntakePaths: every intake path answers another method
// with 405, an Allow header and the JSON body every intake answer has.
func TestWrongMethodOnIntakePaths(t *testing.T) {
	t.Parallel() // a log and server of its own
	in := openIntake(t)
	for _, c := range []struct{ method, path, allow string }{
		{http.MethodGet, "/v1/log_event", "POST, OPTIONS"},
		{http.MethodPut, "/v1/rgstr", "POST, OPTIONS"},
		{http.MethodDelete, "/v1/log_event", "POST, OPTIONS"},
		{http.MethodGet, "/v1/sdk_exception", "POST"},
		{http.MethodGet, "/webhooks/statsig", "POST"},
	} {
		req, _ := http.NewRequest(c.method, in.URL+c.path, nil)
		a := do(t, req)
		if a.Code != http.StatusMethodNotAllowed || a.Header.Get("Allow") != c.allow ||
			!strings.HasPrefix(a.Header.Get("Content-Type"), "application/json") || a.Success ||
			!strings.Contains(a.Error, c.method) || !strings.Contains(a.Error, c.path) {
			t.Errorf("%s %s: %d Allow %q Content-Type %q %s, want 405 Allow %q and a JSON error naming the method and path",
				c.method, c.path, a.Code, a.Header.Get("Allow"), a.Header.Get("Content-Type"), a.Raw, c.allow)
		}
	}
}

func get(t testing.TB, url string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, req)
}

// TestMetricsNeverShowSecrets exercises intake with keys in headers and
// query, bad keys, a signed webhook and a destination whose write key is
// first refused, then scrapes /metrics: no configured secret appears.
func TestMetricsNeverShowSecrets(t *testing.T) {
	t.Parallel() // a log and server of its own
	const (
		key1       = "secret-intake-key-1111111111"
		key2       = "client-intake-key-2222222222"
		hookSecret = "webhook-signing-secret-333333"
		writeKey   = "segment-write-key-4444444444"
	)
	in := startIntake(t, server.Config{APIKeys: []string{key1, key2}, WebhookSecret: hookSecret}, queue.Config{})

	// A destination on the same registry, whose write key is refused once.
	var calls atomic.Int32
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		want := "Basic " + base64.StdEncoding.EncodeToString([]byte(writeKey+":"))
		if calls.Add(1) == 1 || r.Header.Get("Authorization") != want {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"code":"invalid_write_key"}`))
			return
		}
		w.Write([]byte(`{"success":true}`))
	}))
	t.Cleanup(sink.Close)
	ctx, cancel := context.WithCancel(context.Background())
	cons, err := in.Log.Consumer(ctx, "segment", queue.ConsumerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	runner := destination.NewRunner(destination.Config{
		Name:     "segment",
		Writer:   segmentapi.New(segmentapi.Config{Endpoint: sink.URL, WriteKey: writeKey}),
		Encoder:  destination.TrackEncoder{Mapper: mapping.New(mappingconfig.Options{}, nil, mapping.Library{Name: "test", Version: "0"}), MaxItemBytes: segment.MaxMessageBytes},
		Consumer: cons,
		Log:      in.Log,
		Metrics:  destination.NewMetrics(in.Reg),
		Logger:   testLogger(),
		Options: delivery.Options{
			FlushInterval: 50 * time.Millisecond,
			Retry:         delivery.RetryPolicy{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond, PauseProbe: 50 * time.Millisecond},
		},
	})
	done := make(chan error, 1)
	go func() { done <- runner.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	reqs := []struct {
		query   string
		headers map[string]string
		want    int
	}{
		{"", map[string]string{"STATSIG-API-KEY": key1}, http.StatusAccepted},
		{"?k=" + key2, nil, http.StatusAccepted},
		{"", map[string]string{"statsig-api-key": key1 + "x"}, http.StatusUnauthorized},
		{"?k=" + key2[:8], nil, http.StatusUnauthorized},
	}
	for i, r := range reqs {
		a := do(t, post(t, in.URL+"/v1/log_event"+r.query, eventsBody("s"+strconv.Itoa(i), 2, 0), r.headers))
		if a.Code != r.want {
			t.Fatalf("request %d: %d %s, want %d", i, a.Code, a.Raw, r.want)
		}
	}
	f := readFixture(t, "webhook", "batch-1")
	if a := do(t, f.request(t, in.URL)); a.Code != http.StatusUnauthorized {
		t.Errorf("fixture signed with another secret: %d %s, want 401", a.Code, a.Raw)
	}
	body := []byte(`[{"eventName":"hooked","userID":"u9"}]`)
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	if a := do(t, post(t, in.URL+"/webhooks/statsig", body, map[string]string{
		"X-Statsig-Request-Timestamp": ts, "X-Statsig-Signature": statsig.Sign([]byte(hookSecret), ts, body),
	})); a.Code != http.StatusAccepted {
		t.Fatalf("signed webhook: %d %s", a.Code, a.Raw)
	}

	var m string
	deadline := time.Now().Add(10 * time.Second)
	for {
		m = scrape(t, in.URL)
		if max(metricValue(t, m, `statsig_bridge_delivered_events_total{attempt="first",destination="segment"}`), 0)+
			max(metricValue(t, m, `statsig_bridge_delivered_events_total{attempt="retry",destination="segment"}`), 0) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("destination did not deliver after its write key was refused once; metrics:\n%s", m)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if v := metricValue(t, m, `statsig_bridge_destination_request_errors_total{class="401",destination="segment"}`); v < 1 {
		t.Errorf("the refused write key was not counted (request_errors_total{class=401} = %v)", v)
	}
	for _, s := range []string{key1, key2, hookSecret, writeKey, key2[:8], key1 + "x",
		base64.StdEncoding.EncodeToString([]byte(writeKey + ":"))} {
		if strings.Contains(m, s) {
			t.Errorf("/metrics contains the secret %q", s)
		}
	}
}

// TestIntakeTellsADuplicateFromAStoredRequest: the same request twice
// within the log's duplicate window is stored once. The second answer says
// so ("duplicate": true, the events still acknowledged), and the metrics
// count it apart: received_events_total counts what was stored.
func TestIntakeTellsADuplicateFromAStoredRequest(t *testing.T) {
	t.Parallel() // a log and server of its own
	in := openIntake(t)
	body := eventsBody("dup", 5, 0)
	first := do(t, post(t, in.URL+"/v1/log_event", body, nil))
	second := do(t, post(t, in.URL+"/v1/log_event", body, nil))
	if first.Code != http.StatusAccepted || strings.Contains(first.Raw, "duplicate") || first.Accepted != 5 {
		t.Errorf("first request: %d %s, want 202 accepted 5, no duplicate", first.Code, first.Raw)
	}
	if second.Code != http.StatusAccepted || !second.Success || !strings.Contains(second.Raw, `"duplicate":true`) || second.Accepted != 5 {
		t.Errorf("the same request again: %d %s, want 202 with duplicate true", second.Code, second.Raw)
	}
	m := scrape(t, in.URL)
	if v := metricValue(t, m, `statsig_bridge_received_events_total{source="sdk"}`); v != 5 {
		t.Errorf("received_events_total = %v, want 5 (stored once)", v)
	}
	if v := metricValue(t, m, `statsig_bridge_duplicate_events_total{source="sdk"}`); v != 5 {
		t.Errorf("duplicate_events_total = %v, want 5", v)
	}
}
