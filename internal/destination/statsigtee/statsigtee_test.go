package statsigtee_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"

	"github.com/statsig-bridge/statsig-bridge/internal/destination/desttest"
	"github.com/statsig-bridge/statsig-bridge/internal/destination/statsigtee"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

var fixtures = filepath.Join("..", "..", "..", "testdata", "fixtures")

// decodeFixture reads a fixture's decoded body (NAME.json) as the intake
// would store it.
func decodeFixture(t *testing.T, dir, name string, info statsig.RequestInfo) (*statsig.Batch, map[string]any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(fixtures, dir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if info.ReceivedAt.IsZero() {
		info.ReceivedAt = time.UnixMilli(1_800_000_000_000)
	}
	b, rejects, err := statsig.DecodeRequest(raw, info)
	if err != nil || len(rejects) > 0 {
		t.Fatalf("decoding %s/%s: %v %v", dir, name, err, rejects)
	}
	return b, decodeJSON(t, raw)
}

func decodeJSON(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v map[string]any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, raw)
	}
	return v
}

// Normalise makes an event as an SDK sent it comparable with the event the
// tee sends: both as decoded JSON, with null members left out (the log keeps
// null as absent: "value":null, "statsigMetadata":null, "customIDs":null,
// "privateAttributes":null) and empty strings left out of the user (Go's
// "userID":""). Everything else must be equal, value by value.
func Normalise(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if e == nil {
				continue
			}
			if k == "user" {
				if u, ok := e.(map[string]any); ok {
					for uk, ue := range u {
						if ue == "" {
							delete(u, uk)
						}
					}
					if len(u) == 0 {
						continue
					}
				}
			}
			out[k] = Normalise(e)
		}
		return out
	case []any:
		for i := range x {
			x[i] = Normalise(x[i])
		}
	}
	return v
}

func encodeAll(t *testing.T, enc *statsigtee.Encoder, b *statsig.Batch) []map[string]any {
	t.Helper()
	var out []map[string]any
	for i := range b.Events {
		r := enc.Encode(b, &b.Events[i])
		if r.Filtered || r.Invalid {
			t.Fatalf("event %d (%s) not forwarded: %s", i, b.Events[i].EventName, r.Reason)
		}
		out = append(out, decodeJSON(t, r.Payload))
	}
	return out
}

// TestEncodeGoSDKEventsAsSent: every event of a Go SDK request is forwarded
// as the SDK sent it (compared with the capture's decoded body).
func TestEncodeGoSDKEventsAsSent(t *testing.T) {
	b, orig := decodeFixture(t, "go-sdk", "log_event-1", statsig.RequestInfo{ClientTime: 1795534342327})
	got := encodeAll(t, statsigtee.NewEncoder(mappingconfig.Options{}), b)
	want := orig["events"].([]any)
	if len(got) != len(want) {
		t.Fatalf("%d events forwarded, want %d", len(got), len(want))
	}
	for i := range want {
		if g, w := Normalise(got[i]), Normalise(want[i]); !reflect.DeepEqual(g, w) {
			gj, _ := json.Marshal(g)
			wj, _ := json.Marshal(w)
			t.Errorf("event %d differs\n got %s\nwant %s", i, gj, wj)
		}
	}
}

// TestEncodeJSClientCarriesRequestStableID: the js-client sends its stableID
// once per request; each forwarded event carries it in its user, because
// events of many requests share one outgoing request. Everything else is
// as sent (rgstr-2 spans a user switch).
func TestEncodeJSClientCarriesRequestStableID(t *testing.T) {
	b, orig := decodeFixture(t, "js-client", "rgstr-2", statsig.RequestInfo{ClientTime: 1795541031753})
	stable := orig["statsigMetadata"].(map[string]any)["stableID"].(string)
	got := encodeAll(t, statsigtee.NewEncoder(mappingconfig.Options{}), b)
	want := orig["events"].([]any)
	if len(got) != len(want) {
		t.Fatalf("%d events forwarded, want %d", len(got), len(want))
	}
	for i := range want {
		w := want[i].(map[string]any)
		u := w["user"].(map[string]any)
		ids, _ := u["customIDs"].(map[string]any)
		if ids == nil {
			ids = map[string]any{}
			u["customIDs"] = ids
		}
		ids["stableID"] = stable
		if g, w := Normalise(got[i]), Normalise(w); !reflect.DeepEqual(g, w) {
			gj, _ := json.Marshal(g)
			wj, _ := json.Marshal(w)
			t.Errorf("event %d differs\n got %s\nwant %s", i, gj, wj)
		}
	}
	// The stored batch is not changed by encoding.
	if b.Events[0].User.StableID() != "" {
		t.Error("encoding wrote the stableID into the log's event")
	}
}

// TestEncodeTimeOfEventWithoutTime: Go's LogImmediate sends time 0; the
// forwarded event gets the request's client time.
func TestEncodeTimeOfEventWithoutTime(t *testing.T) {
	b, orig := decodeFixture(t, "go-sdk-layers", "log_event-1", statsig.RequestInfo{ClientTime: 1_795_000_000_555})
	if orig["events"].([]any)[0].(map[string]any)["time"].(json.Number) != "0" {
		t.Fatal("fixture changed: its event should have time 0")
	}
	got := encodeAll(t, statsigtee.NewEncoder(mappingconfig.Options{}), b)
	if got[0]["time"].(json.Number) != "1795000000555" {
		t.Errorf("time %v, want the request's client time 1795000000555", got[0]["time"])
	}
}

func TestEncoderFilter(t *testing.T) {
	b, _ := decodeFixture(t, "node-core", "log_event-1", statsig.RequestInfo{})
	count := func(enc *statsigtee.Encoder, b *statsig.Batch) map[string]int {
		n := map[string]int{}
		for i := range b.Events {
			if r := enc.Encode(b, &b.Events[i]); !r.Filtered {
				n[b.Events[i].EventName]++
			}
		}
		return n
	}
	all := count(statsigtee.NewEncoder(mappingconfig.Options{}), b)
	if all["statsig::diagnostics"] == 0 || all["statsig::non_exposed_checks"] == 0 || all["statsig::config_exposure"] == 0 {
		t.Errorf("default filter dropped events Statsig gets from the SDK: %v", all)
	}
	// Experiments are not renamed: Statsig wants them as config exposures.
	if all["statsig::experiment_exposure"] != 0 {
		t.Errorf("experiment exposures renamed: %v", all)
	}
	n := count(statsigtee.NewEncoder(mappingconfig.Options{Types: []statsig.Kind{statsig.KindCustom, statsig.KindGate}, Exclude: []string{"page_*"}}), b)
	for name := range n {
		if k := statsig.KindOf(name); (k != statsig.KindCustom && k != statsig.KindGate) || strings.HasPrefix(name, "page_") {
			t.Errorf("types/exclude: %s forwarded", name)
		}
	}
	if n["add_to_cart"] == 0 || n["statsig::gate_exposure"] == 0 {
		t.Errorf("types/exclude dropped wanted events: %v", n)
	}
	n = count(statsigtee.NewEncoder(mappingconfig.Options{Include: []string{"statsig::*_exposure"}}), b)
	if len(n) != 3 {
		t.Errorf("include statsig::*_exposure forwarded %v, want gate, config and layer exposures", n)
	}
	// Events that Statsig sent through its webhook never go back.
	wb := *b
	wb.Source = statsig.SourceWebhook
	if n := count(statsigtee.NewEncoder(mappingconfig.Options{}), &wb); len(n) != 0 {
		t.Errorf("webhook events forwarded to Statsig: %v", n)
	}
}

// statsigAPI is a fake of Statsig's event API.
type statsigAPI struct {
	*httptest.Server
	mu       sync.Mutex
	requests []apiRequest
	answer   func(n int) (int, http.Header, string)
}

type apiRequest struct {
	Path   string
	Header http.Header
	Body   map[string]any // gunzipped and decoded
}

func newStatsigAPI(t *testing.T, answer func(n int) (int, http.Header, string)) *statsigAPI {
	a := &statsigAPI{answer: answer}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			t.Errorf("body not gzip: %v", err)
			w.WriteHeader(400)
			return
		}
		raw, err := io.ReadAll(zr)
		if err != nil {
			t.Errorf("gzip body: %v", err)
		}
		a.mu.Lock()
		n := len(a.requests)
		a.requests = append(a.requests, apiRequest{Path: r.URL.Path, Header: r.Header.Clone(), Body: decodeJSON(t, raw)})
		a.mu.Unlock()
		code, h, body := 202, http.Header(nil), `{"success":true}`
		if a.answer != nil {
			code, h, body = a.answer(n)
		}
		for k, v := range h {
			w.Header()[k] = v
		}
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(a.Close)
	return a
}

func TestWriteRequestAsServerSDK(t *testing.T) {
	api := newStatsigAPI(t, nil)
	now := time.UnixMilli(1_800_000_000_777)
	w := statsigtee.New(statsigtee.Config{API: api.URL + "/v1", ServerSecret: "secret-tee", Version: "v9.9.9", Now: func() time.Time { return now }})
	b, _ := decodeFixture(t, "go-sdk", "log_event-1", statsig.RequestInfo{})
	enc := statsigtee.NewEncoder(mappingconfig.Options{})
	var payloads [][]byte
	for i := range b.Events {
		payloads = append(payloads, enc.Encode(b, &b.Events[i]).Payload)
	}
	if err := w.Write(context.Background(), payloads); err != nil {
		t.Fatal(err)
	}
	r := api.requests[0]
	if r.Path != "/v1/log_event" {
		t.Errorf("path %s", r.Path)
	}
	for k, want := range map[string]string{
		"STATSIG-API-KEY": "secret-tee", "Content-Type": "application/json", "Content-Encoding": "gzip",
		"STATSIG-CLIENT-TIME": "1800000000777", "STATSIG-EVENT-COUNT": "32",
		"STATSIG-SDK-TYPE": "statsig-bridge", "STATSIG-SDK-VERSION": "v9.9.9",
	} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if r.Header.Get("STATSIG-SERVER-SESSION-ID") == "" || r.Header.Get("STATSIG-SDK-LANGUAGE-VERSION") == "" {
		t.Errorf("session or language version header missing: %v", r.Header)
	}
	md, _ := r.Body["statsigMetadata"].(map[string]any)
	if md["sdkType"] != "statsig-bridge" || md["sdkVersion"] != "v9.9.9" || md["sessionID"] != r.Header.Get("STATSIG-SERVER-SESSION-ID") {
		t.Errorf("request statsigMetadata %v", md)
	}
	if ev, _ := r.Body["events"].([]any); len(ev) != 32 {
		t.Errorf("%d events in the body, want 32", len(ev))
	}
	if len(r.Body) != 2 {
		t.Errorf("envelope has members %v, want events and statsigMetadata", r.Body)
	}
	// Each attempt says its own time, as statsig-node does on retries.
	now = now.Add(1500 * time.Millisecond)
	if err := w.Write(context.Background(), payloads[:1]); err != nil {
		t.Fatal(err)
	}
	if got := api.requests[1].Header.Get("STATSIG-CLIENT-TIME"); got != "1800000002277" {
		t.Errorf("second attempt's client time %s", got)
	}
}

// TestAnswers: each row of the tee's status table, over HTTP. A 404 (a
// wrong api base) pauses rather than dead-letter everything; a 422 refuses
// the batch, as the webhook and Segment do.
func TestAnswers(t *testing.T) {
	desttest.CheckAnswers(t, statsigtee.Answers, map[string]desttest.Row{
		"2xx": {Code: 202, Want: "ok"},
		"401": {Code: 401, Want: "auth"},
		"403": {Code: 403, Want: "auth"},
		"404": {Code: 404, Want: "auth"},
		"405": {Code: 405, Want: "auth"},
		"410": {Code: 410, Want: "auth"},
		"408": {Code: 408, Want: "backoff"},
		"429": {Code: 429, Want: "backoff"},
		"5xx": {Code: 500, Want: "backoff"},
		"4xx": {Code: 422, Want: "permanent"},
	}, `{"success":true,"echo":"secret-never-in-errors"}`, []string{"secret-never-in-errors"}, func(ctx context.Context, url string) error {
		return statsigtee.New(statsigtee.Config{API: url + "/v1", ServerSecret: "secret-never-in-errors"}).
			Write(ctx, [][]byte{[]byte(`{"eventName":"x","user":null,"time":1}`)})
	})
}

// TestWriteRetriesSuccessFalse: a 2xx whose JSON says "success":false is
// retried as the SDKs do; its status stays in the error (for the metrics)
// and the answer loses the secret.
func TestWriteRetriesSuccessFalse(t *testing.T) {
	api := newStatsigAPI(t, func(int) (int, http.Header, string) {
		return 202, nil, `{"success":false,"key":"secret-never-in-errors"}`
	})
	err := statsigtee.New(statsigtee.Config{API: api.URL + "/v1", ServerSecret: "secret-never-in-errors"}).
		Write(context.Background(), [][]byte{[]byte(`{"eventName":"x","user":null,"time":1}`)})
	var refused *statsigtee.RefusedError
	if desttest.Class(err) != "transient" || !errors.As(err, &refused) || refused.StatusCode() != 202 {
		t.Fatalf("success:false: %v, want a plain retry with status 202", err)
	}
	if strings.Contains(err.Error(), "secret-never-in-errors") {
		t.Errorf("error names the server secret: %v", err)
	}
}

func TestLogEventURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://events.statsigapi.net/v1":            "https://events.statsigapi.net/v1/log_event",
		"https://events.statsigapi.net/v1/":           "https://events.statsigapi.net/v1/log_event",
		"https://events.statsigapi.net/v1/log_event":  "https://events.statsigapi.net/v1/log_event",
		"http://proxy.internal/statsig/v1?token=abc":  "http://proxy.internal/statsig/v1/log_event?token=abc",
		"http://proxy.internal/statsig/v1/?token=abc": "http://proxy.internal/statsig/v1/log_event?token=abc",
	} {
		if got := statsigtee.LogEventURL(in); got != want {
			t.Errorf("LogEventURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestEncoderSkipsImportedHistory: events loaded by `statsig-bridge import`
// are history Statsig already has; the tee does not send them again.
func TestEncoderSkipsImportedHistory(t *testing.T) {
	b, _ := decodeFixture(t, "go-sdk", "log_event-1", statsig.RequestInfo{})
	enc := statsigtee.NewEncoder(mappingconfig.Options{})
	if r := enc.Encode(b, &b.Events[0]); r.Filtered {
		t.Fatalf("live SDK event filtered: %s", r.Reason)
	}
	b.Source = statsig.SourceImport
	if r := enc.Encode(b, &b.Events[0]); !r.Filtered || r.Reason != "imported history" {
		t.Fatalf("imported event: filtered %v (%s), want filtered as imported history", r.Filtered, r.Reason)
	}
}

// TestEncoderEnvironments: the tee forwards only the listed tiers, an event
// without a tier counting as production.
func TestEncoderEnvironments(t *testing.T) {
	b := &statsig.Batch{ReceivedAt: 1795540399245, Source: statsig.SourceSDK, Events: []statsig.Event{
		{ID: "a", EventName: "checkout", User: &statsig.User{UserID: "u", StatsigEnvironment: []byte(`{"tier":"staging"}`)}, Time: 1},
		{ID: "b", EventName: "checkout", User: &statsig.User{UserID: "u", StatsigEnvironment: []byte(`{"tier":"Production"}`)}, Time: 1},
		{ID: "c", EventName: "checkout", User: &statsig.User{UserID: "u"}, Time: 1},
	}}
	enc := statsigtee.NewEncoder(mappingconfig.Options{Environments: []string{"production"}})
	var got []string
	for i := range b.Events {
		r := enc.Encode(b, &b.Events[i])
		got = append(got, fmt.Sprintf("%s:%v:%s", b.Events[i].ID, r.Filtered, r.Filter))
	}
	if want := "a:true:environment b:false: c:false:"; strings.Join(got, " ") != want {
		t.Errorf("got %s, want %s", strings.Join(got, " "), want)
	}
}
