package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// fakeStatsig is Statsig's event API as the tee sees it: it decodes each
// gzip body and records the request.
type fakeStatsig struct {
	*httptest.Server
	mu       sync.Mutex
	requests []statsigRequest
	answer   func(events []map[string]any, n int) (int, http.Header, string)
}

type statsigRequest struct {
	At     time.Time
	Path   string
	Header http.Header
	Body   map[string]any
	Events []map[string]any
	Code   int
	// Accepted: a 2xx with {"success":true}.
	Accepted bool
	Err      string // what was wrong with the request's encoding
}

func newFakeStatsig(t *testing.T) *fakeStatsig {
	f := &fakeStatsig{}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// Answer sets how the API answers (n counts requests from 0).
func (f *fakeStatsig) Answer(a func(events []map[string]any, n int) (int, http.Header, string)) {
	f.mu.Lock()
	f.answer = a
	f.mu.Unlock()
}

func (f *fakeStatsig) serve(w http.ResponseWriter, r *http.Request) {
	req := statsigRequest{At: time.Now(), Path: r.URL.Path, Header: r.Header.Clone()}
	raw, _ := io.ReadAll(r.Body)
	if zr, err := gzip.NewReader(bytes.NewReader(raw)); err != nil {
		req.Err = "body is not gzip: " + err.Error()
	} else if plain, err := io.ReadAll(zr); err != nil {
		req.Err = "gzip body: " + err.Error()
	} else {
		d := json.NewDecoder(bytes.NewReader(plain))
		d.UseNumber()
		if err := d.Decode(&req.Body); err != nil {
			req.Err = "body is not JSON: " + err.Error()
		}
		evs, _ := req.Body["events"].([]any)
		for _, e := range evs {
			m, _ := e.(map[string]any)
			req.Events = append(req.Events, m)
		}
	}
	f.mu.Lock()
	n := len(f.requests)
	answer := f.answer
	f.mu.Unlock()
	code, hdr, body := http.StatusAccepted, http.Header(nil), `{"success":true}`
	if req.Err != "" {
		code, body = http.StatusBadRequest, `{"message":"bad request"}`
	} else if answer != nil {
		code, hdr, body = answer(req.Events, n)
	}
	req.Code = code
	req.Accepted = code/100 == 2 && strings.Contains(body, `"success":true`)
	f.mu.Lock()
	f.requests = append(f.requests, req)
	f.mu.Unlock()
	for k, v := range hdr {
		w.Header()[k] = v
	}
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}

func (f *fakeStatsig) Requests() []statsigRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]statsigRequest(nil), f.requests...)
}

// Accepted returns the events of accepted requests.
func (f *fakeStatsig) Accepted() []map[string]any {
	var out []map[string]any
	for _, r := range f.Requests() {
		if r.Accepted {
			out = append(out, r.Events...)
		}
	}
	return out
}

const teeSecret = "secret-tee-e2e-0123456789"

// teeYAML is a tee destination's YAML with the test delivery.
func teeYAML(name, api, mappingYAML string) string {
	s := fmt.Sprintf("  - name: %s\n    type: statsig\n    statsig: {api: %q, server_secret: %q, timeout: 5s}\n", name, api, teeSecret)
	if mappingYAML != "" {
		s += "    mapping: " + mappingYAML + "\n"
	}
	return s + testDelivery[1:]
}

// teeFixture is a captured SDK request and the events Statsig must get
// from the tee for it.
type teeFixture struct {
	dir, name string
	want      []map[string]any
}

// expectedTeeEvents reads a capture's decoded body and returns its events
// as the tee must forward them: as sent, plus the request's stableID in a
// user that has none (js-client), and the request's client time for an
// event sent without one (Go's LogImmediate).
func expectedTeeEvents(t *testing.T, dir, name string) []map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(fixtures, dir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var req map[string]any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&req); err != nil {
		t.Fatal(err)
	}
	md, _ := req["statsigMetadata"].(map[string]any)
	stable, _ := md["stableID"].(string)
	clientTime := fixtureClientTime(t, dir, name)
	var out []map[string]any
	for _, e := range req["events"].([]any) {
		ev := e.(map[string]any)
		if stable != "" {
			u, _ := ev["user"].(map[string]any)
			if u == nil {
				u = map[string]any{}
				ev["user"] = u
			}
			ids, _ := u["customIDs"].(map[string]any)
			if ids == nil {
				ids = map[string]any{}
				u["customIDs"] = ids
			}
			if s, _ := ids["stableID"].(string); s == "" {
				ids["stableID"] = stable
			}
		}
		if tm, _ := ev["time"].(json.Number); tm == "" || tm == "0" {
			ev["time"] = json.Number(strconv.FormatInt(clientTime, 10))
		}
		out = append(out, ev)
	}
	return out
}

// fixtureClientTime is the capture's STATSIG-CLIENT-TIME (or the
// js-client's t=).
func fixtureClientTime(t *testing.T, dir, name string) int64 {
	hdr, err := os.ReadFile(filepath.Join(fixtures, dir, name+".headers"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(hdr), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "statsig-client-time") {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
		if _, q, ok := strings.Cut(l, "&t="); ok {
			v, _, _ := strings.Cut(q, "&")
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// canonical is an event's comparable form: JSON with sorted keys, null
// members left out (the log keeps null as absent: "value":null,
// "statsigMetadata":null, "customIDs":null, "privateAttributes":null) and
// empty strings left out of the user (Go's "userID":""). Everything else,
// numbers as written included, must be equal.
func canonical(ev map[string]any) string {
	b, _ := json.Marshal(dropNulls(ev, false))
	return string(b)
}

func dropNulls(v any, inUser bool) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if e == nil || (inUser && e == "") {
				continue
			}
			c := dropNulls(e, k == "user")
			if m, ok := c.(map[string]any); ok && k == "user" && len(m) == 0 {
				continue
			}
			out[k] = c
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = dropNulls(x[i], false)
		}
		return out
	}
	return v
}

// TestTeeForwardsSDKRequestsAsSent replays captured requests of every SDK
// into a bridge whose only destination is the tee, and checks that the
// fake Statsig API gets requests shaped as a server SDK's, holding every
// event as the SDK sent it.
func TestTeeForwardsSDKRequestsAsSent(t *testing.T) {
	parallel(t)
	api := newFakeStatsig(t)
	b := bridgeFromYAML(t, teeYAML("statsig", api.URL+"/v1", ""))
	fx := []*teeFixture{
		{dir: "go-sdk", name: "log_event-1"}, {dir: "go-sdk-layers", name: "log_event-1"}, {dir: "go-sdk-layers", name: "log_event-2"},
		{dir: "js-client", name: "rgstr-1"}, {dir: "js-client", name: "rgstr-2"}, {dir: "js-client", name: "rgstr-3"},
		{dir: "node-core", name: "log_event-1"},
	}
	start := time.Now()
	total := 0
	for _, f := range fx {
		f.want = expectedTeeEvents(t, f.dir, f.name)
		total += len(f.want)
		resp := fixtureRequest(t, b.URL, f.dir, f.name)
		if body, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("%s/%s: intake answered %d %s", f.dir, f.name, resp.StatusCode, body)
		}
	}
	testwait.For(t, 15*time.Second, fmt.Sprintf("%d events at Statsig", total), func() bool { return len(api.Accepted()) >= total })
	end := time.Now()

	// The requests, as a server SDK sends them.
	for i, r := range api.Requests() {
		if r.Err != "" {
			t.Fatalf("request %d: %s", i, r.Err)
		}
		h := r.Header
		for k, want := range map[string]string{
			"STATSIG-API-KEY": teeSecret, "Content-Type": "application/json", "Content-Encoding": "gzip",
			"STATSIG-SDK-TYPE": "statsig-bridge", "STATSIG-EVENT-COUNT": strconv.Itoa(len(r.Events)),
		} {
			if got := h.Get(k); got != want {
				t.Errorf("request %d: %s = %q, want %q", i, k, got, want)
			}
		}
		if h.Get("STATSIG-SDK-VERSION") == "" || h.Get("STATSIG-SERVER-SESSION-ID") == "" {
			t.Errorf("request %d: no SDK version or session header: %v", i, h)
		}
		if ct, err := strconv.ParseInt(h.Get("STATSIG-CLIENT-TIME"), 10, 64); err != nil ||
			ct < start.UnixMilli() || ct > end.UnixMilli() {
			t.Errorf("request %d: STATSIG-CLIENT-TIME %q is not the time of sending", i, h.Get("STATSIG-CLIENT-TIME"))
		}
		if r.Path != "/v1/log_event" {
			t.Errorf("request %d: path %s", i, r.Path)
		}
		md, _ := r.Body["statsigMetadata"].(map[string]any)
		if len(r.Body) != 2 || md["sdkType"] != "statsig-bridge" || md["sessionID"] != h.Get("STATSIG-SERVER-SESSION-ID") {
			t.Errorf("request %d: envelope %v, want events and the bridge's statsigMetadata", i, keys(r.Body))
		}
	}

	// Every event, field by field, as the SDK sent it: the events of all
	// requests against those the fixtures hold (a multiset: the Go SDK
	// logs a repeated gate check twice).
	got := map[string]int{}
	for _, ev := range api.Accepted() {
		got[canonical(ev)]++
	}
	missing := 0
	for _, f := range fx {
		for i, ev := range f.want {
			c := canonical(ev)
			if got[c] == 0 {
				missing++
				if missing <= 3 {
					t.Errorf("%s/%s event %d (%s) not forwarded as sent:\n%s\nclosest forwarded:\n%s", f.dir, f.name, i, ev["eventName"], c, closest(c, api.Accepted()))
				}
				continue
			}
			got[c]--
		}
	}
	extra := 0
	for _, n := range got {
		extra += n
	}
	if missing > 0 || extra > 0 {
		t.Errorf("%d fixture events not forwarded as sent, %d forwarded events not in the fixtures", missing, extra)
	}

	// Spelled out for the js-client (the only SDK here whose events carry
	// statsigMetadata.currentPage): its request-level stableID is in every
	// forwarded event of it, rgstr-2's in those of rgstr-2.
	const stable2 = "8c1e7d2a-0006-4f6b-9a51-000000000006"
	want2, got2, js := 0, 0, 0
	for _, ev := range fx[4].want {
		if md, _ := ev["statsigMetadata"].(map[string]any); md["currentPage"] != nil {
			want2++
		}
	}
	for _, ev := range api.Accepted() {
		if md, _ := ev["statsigMetadata"].(map[string]any); md["currentPage"] == nil {
			continue
		}
		js++
		u, _ := ev["user"].(map[string]any)
		ids, _ := u["customIDs"].(map[string]any)
		switch s, _ := ids["stableID"].(string); s {
		case "":
			t.Errorf("js-client event forwarded without its stableID: %s", canonical(ev))
		case stable2:
			got2++
		}
	}
	if want2 == 0 || got2 != want2 {
		t.Errorf("rgstr-2's stableID in %d forwarded js-client events, want %d", got2, want2)
	}
	t.Logf("%d js-client events, each with a stableID", js)
	if n := deadLettered(t, b.URL); n != 0 {
		t.Errorf("%v events dead-lettered", n)
	}
	t.Logf("%d events in %d requests", total, len(api.Requests()))
}

// TestTeeGoSDKEventsEqualCapture: the Go SDK's request arrives at Statsig
// with its events equal to the capture's decoded body, event by event, in
// order.
func TestTeeGoSDKEventsEqualCapture(t *testing.T) {
	parallel(t)
	api := newFakeStatsig(t)
	b := bridgeFromYAML(t, teeYAML("statsig", api.URL+"/v1", ""))
	if resp := fixtureRequest(t, b.URL, "go-sdk", "log_event-1"); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("intake answered %d", resp.StatusCode)
	}
	raw, err := os.ReadFile(filepath.Join(fixtures, "go-sdk", "log_event-1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var capture struct {
		Events []map[string]any `json:"events"`
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&capture); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "the events at Statsig", func() bool { return len(api.Accepted()) >= len(capture.Events) })
	got := api.Accepted()
	if len(got) != len(capture.Events) {
		t.Fatalf("%d events forwarded, the capture has %d", len(got), len(capture.Events))
	}
	for i := range got {
		if g, w := canonical(got[i]), canonical(capture.Events[i]); g != w {
			t.Errorf("event %d:\n got %s\nwant %s", i, g, w)
		}
	}
}

// TestTeeRetriesAndDeadLetters: Statsig fails (503 with Retry-After, then a
// 202 saying success:false), then refuses (400) any request holding one
// poison event; every other event arrives once, the poison event alone is
// dead-lettered.
func TestTeeRetriesAndDeadLetters(t *testing.T) {
	parallel(t)
	api := newFakeStatsig(t)
	api.Answer(func(events []map[string]any, n int) (int, http.Header, string) {
		switch n {
		case 0:
			return http.StatusServiceUnavailable, http.Header{"Retry-After": {"1"}}, `{"message":"unavailable"}`
		case 1:
			return http.StatusAccepted, nil, `{"success":false}`
		}
		for _, e := range events {
			if seqOfEvent(e) == "0-1-7" {
				return http.StatusBadRequest, nil, `{"message":"invalid event"}`
			}
		}
		return http.StatusAccepted, nil, `{"success":true}`
	})
	b := bridgeFromYAML(t, teeYAML("statsig", api.URL+"/v1", ""))
	sent := postLoad(t, b.URL, 3, 30)
	testwait.For(t, 15*time.Second, "89 events at Statsig and one dead letter", func() bool {
		return len(api.Accepted()) >= len(sent)-1 && deadLettered(t, b.URL) >= 1
	})
	reqs := api.Requests()
	if reqs[0].Code != http.StatusServiceUnavailable || reqs[1].Code != http.StatusAccepted || reqs[1].Accepted {
		t.Fatalf("the API did not fail first: %d, %d", reqs[0].Code, reqs[1].Code)
	}
	seen := map[string]int{}
	for _, e := range api.Accepted() {
		seen[seqOfEvent(e)]++
	}
	for seq := range sent {
		want := 1
		if seq == "0-1-7" {
			want = 0
		}
		if seen[seq] != want {
			t.Errorf("event %s reached Statsig %d times, want %d", seq, seen[seq], want)
		}
	}
	dls := deadLetters(t, b, "statsig")
	if len(dls) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dls))
	}
	if dl := dls[0]; dl.Reason != "rejected_by_destination" || !strings.Contains(string(dl.Event.Metadata), `"0-1-7"`) ||
		!strings.Contains(dl.Detail, "invalid event") || !strings.Contains(string(dl.Payload), `"eventName":"e2e_event"`) ||
		dl.Status != http.StatusBadRequest || !strings.HasPrefix(dl.Detail, "HTTP 400") {
		t.Errorf("dead letter %s (%s) for %s, want the poison event rejected_by_destination", dl.Reason, dl.Detail, dl.Event.Metadata)
	}
}

// TestTeePausesOnRefusedSecret: a 401 pauses the tee (nothing
// dead-lettered, nothing lost); once Statsig accepts again, every event
// arrives.
func TestTeePausesOnRefusedSecret(t *testing.T) {
	parallel(t)
	api := newFakeStatsig(t)
	var refuse sync.Mutex
	refusing := true
	api.Answer(func([]map[string]any, int) (int, http.Header, string) {
		refuse.Lock()
		defer refuse.Unlock()
		if refusing {
			return http.StatusUnauthorized, nil, `{"message":"invalid secret"}`
		}
		return http.StatusAccepted, nil, `{"success":true}`
	})
	b := bridgeFromYAML(t, teeYAML("statsig", api.URL+"/v1", ""))
	sent := postLoad(t, b.URL, 2, 20)
	testwait.For(t, 10*time.Second, "the tee paused", func() bool {
		v, _ := metric(t, b.URL, `statsig_bridge_destination_paused{destination="statsig"}`)
		return v == 1
	})
	for _, r := range api.Requests() {
		if strings.Contains(fmt.Sprint(r.Header["Statsig-Api-Key"]), teeSecret) == false {
			t.Errorf("request without the server secret: %v", r.Header)
		}
	}
	refuse.Lock()
	refusing = false
	refuse.Unlock()
	testwait.For(t, 10*time.Second, "every event at Statsig", func() bool { return len(api.Accepted()) >= len(sent) })
	if n := deadLettered(t, b.URL); n != 0 {
		t.Errorf("%v events dead-lettered while the secret was refused", n)
	}
}

// TestTeeFilterOnlyWhenSet: the tee forwards SDK-internal events by
// default; types and exclude, once set, apply to the names as sent.
func TestTeeFilterOnlyWhenSet(t *testing.T) {
	parallel(t)
	all, some := newFakeStatsig(t), newFakeStatsig(t)
	b := bridgeFromYAML(t,
		teeYAML("tee_all", all.URL+"/v1", ""),
		teeYAML("tee_some", some.URL+"/v1", `{types: [custom, config_exposure], exclude: ["page_*"]}`))
	if resp := fixtureRequest(t, b.URL, "node-core", "log_event-1"); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("intake answered %d", resp.StatusCode)
	}
	want := expectedTeeEvents(t, "node-core", "log_event-1")
	wantSome := 0
	for _, e := range want {
		name := e["eventName"].(string)
		if (name == "statsig::config_exposure" || !strings.HasPrefix(name, "statsig::")) && !strings.HasPrefix(name, "page_") {
			wantSome++
		}
	}
	testwait.For(t, 10*time.Second, "both tees served", func() bool {
		return len(all.Accepted()) >= len(want) && len(some.Accepted()) >= wantSome
	})
	names := map[string]int{}
	for _, e := range all.Accepted() {
		names[e["eventName"].(string)]++
	}
	if names["statsig::diagnostics"] == 0 || names["statsig::non_exposed_checks"] == 0 {
		t.Errorf("default tee left out SDK-internal events: %v", names)
	}
	if names["statsig::experiment_exposure"] != 0 {
		t.Errorf("experiment exposures renamed for Statsig: %v", names)
	}
	if n := len(some.Accepted()); n != wantSome {
		t.Errorf("filtered tee forwarded %d events, want %d", n, wantSome)
	}
	for _, e := range some.Accepted() {
		name := e["eventName"].(string)
		if (name != "statsig::config_exposure" && strings.HasPrefix(name, "statsig::")) || strings.HasPrefix(name, "page_") {
			t.Errorf("filtered tee forwarded %s", name)
		}
	}
}

func seqOfEvent(e map[string]any) string {
	md, _ := e["metadata"].(map[string]any)
	s, _ := md["seq"].(string)
	return s
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// closest returns the forwarded event with the same name and the longest
// common prefix with c, for failure messages.
func closest(c string, events []map[string]any) string {
	best, bestN := "", -1
	for _, e := range events {
		o := canonical(e)
		n := 0
		for n < len(o) && n < len(c) && o[n] == c[n] {
			n++
		}
		if n > bestN {
			best, bestN = o, n
		}
	}
	return best
}
