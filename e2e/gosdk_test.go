package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	statsig "github.com/statsig-io/go-sdk"

	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// goSDKSecret is the server secret the Go SDK, the specs server and the
// bridge's intake share (the SDK refuses keys not starting with "secret").
const goSDKSecret = "secret-e2e-gosdk-4f1c9a7b2d3e5f60"

// privateMarker is a private attribute value that must never leave the SDK.
const privateMarker = "PRIVATE-ssn-078-05-1120"

var (
	uuidShape = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	rfc3339ms = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)
)

// rawSink is the harness sink plus the raw (decompressed) request bodies.
type rawSink struct {
	*sink
	mu     sync.Mutex
	bodies [][]byte
}

func newRawSink(t testing.TB) *rawSink {
	rs := &rawSink{sink: &sink{WriteKey: "test-write-key", byID: map[string]int{}}}
	rs.sink.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		plain := body
		if r.Header.Get("Content-Encoding") == "gzip" {
			if zr, err := gzip.NewReader(bytes.NewReader(body)); err == nil {
				plain, _ = io.ReadAll(zr)
			}
		}
		rs.mu.Lock()
		rs.bodies = append(rs.bodies, plain)
		rs.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(plain))
		r.Header.Del("Content-Encoding")
		rs.sink.serve(w, r)
	}))
	t.Cleanup(rs.sink.Close)
	return rs
}

func (rs *rawSink) Bodies() [][]byte {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([][]byte(nil), rs.bodies...)
}

// wantTrack is one Segment message the test expects, built next to the SDK
// call that causes it.
type wantTrack struct {
	desc  string
	event string
	user  statsig.User
	// meta are properties.metadata fields that must have these values; with
	// exactMeta, metadata must be exactly meta (nil: no metadata at all).
	meta      map[string]string
	exactMeta bool
	// noMeta are properties.metadata fields that must be absent.
	noMeta []string
	// value is properties.value; "" means no properties.value.
	value string
	// at is the event time set explicitly; zero means "now" (during the test).
	at time.Time
}

func TestGoSDKExposuresAndEventsReachSegment(t *testing.T) {
	parallel(t)
	specs := newSpecsServer(t, filepath.Join(fixtures, "go-sdk-layers", "download_config_specs.json"), goSDKSecret)
	s := newRawSink(t)
	cfg := testConfig(t, s.URL)
	cfg.Intake.APIKeys = []string{goSDKSecret}
	cfg.Specs.ServerSecret = goSDKSecret
	cfg.Specs.API = specs.URL + "/v1"
	b := startBridge(t, cfg)

	// The bridge fetched the config specs before it started serving.
	bridgeGotSpecs := false
	for _, h := range specs.Hits() {
		if h.Method == http.MethodGet && h.Code == 200 && h.Key == goSDKSecret {
			bridgeGotSpecs = true
		}
	}
	if !bridgeGotSpecs {
		t.Fatalf("the bridge did not fetch the config specs at start: %+v", specs.Hits())
	}

	// Auth is on: a key the bridge does not know is refused, so the SDK's
	// accepted requests below prove it sent the right STATSIG-API-KEY.
	req, _ := http.NewRequest(http.MethodPost, b.URL+"/v1/log_event",
		strings.NewReader(`{"events":[{"eventName":"x","user":{"userID":"u"},"time":1}]}`))
	req.Header.Set("STATSIG-API-KEY", "secret-not-this-bridge")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unknown key: got %d, want 401", resp.StatusCode)
	}

	start := time.Now()
	client, details := statsig.NewClientWithDetails(goSDKSecret, &statsig.Options{
		API:          specs.URL + "/v1",
		APIOverrides: statsig.APIOverrides{LogEvent: b.URL + "/v1"},
		Environment:  statsig.Environment{Tier: "staging"},
		InitTimeout:  10 * time.Second,
	})
	if !details.Success || details.Source != statsig.SourceNetwork {
		t.Fatalf("Go SDK did not initialise from the specs server: %v (source %v)", details.Error, details.Source)
	}

	const (
		gate     = "bridge_checkout_gate"
		pricing  = "bridge_pricing_config"
		exp      = "bridge_button_experiment"
		layer    = "bridge_button_layer"
		explicit = "button_color"
		implicit = "show_banner"
	)
	// ada: employee e-mail (passes the gate by rule Employees), DE company
	// (DACH pricing), userID + stableID + email, a private attribute.
	ada := statsig.User{
		UserID: "user-001", Email: "ada@statsig-bridge.example", Country: "DE",
		CustomIDs:         map[string]string{"companyID": "acme-gmbh", "stableID": "8c1e7d2a-0001-4f6b-9a51-000000000001"},
		PrivateAttributes: map[string]interface{}{"ssn": privateMarker},
	}
	// carla: passes the gate by the half rollout, AT company, no stableID.
	carla := statsig.User{UserID: "user-003", Email: "carla@example.at", Country: "AT",
		CustomIDs: map[string]string{"companyID": "bergbahn-ag"}}
	// bob: fails the gate, so the experiment's targeting gate keeps him out.
	bob := statsig.User{UserID: "user-002", Email: "bob@example.org", Country: "US",
		CustomIDs: map[string]string{"companyID": "acme-gmbh"}}
	// anon: only a stableID, no userID.
	anon := statsig.User{CustomIDs: map[string]string{"stableID": "anon-7b1d3f4e-9c2a-4e8b-b6d1-5a0f2e3c4d5e"}}

	var wants []wantTrack
	groups := map[string]bool{}

	gateWant := func(desc string, u statsig.User, value bool, ruleID string) {
		wants = append(wants, wantTrack{desc: desc, event: "statsig::gate_exposure", user: u,
			meta: map[string]string{"gate": gate, "gateValue": strconv.FormatBool(value), "ruleID": ruleID}})
	}
	if !client.CheckGate(ada, gate) {
		t.Fatal("CheckGate(ada): false, want true (rule Employees)")
	}
	gateWant("ada gate", ada, true, "2qB9xEmployeesRule01")
	for _, u := range []struct {
		name string
		user statsig.User
	}{{"carla", carla}, {"bob", bob}, {"anon", anon}} {
		g := client.GetGate(u.user, gate)
		if g.RuleID == "" {
			t.Fatalf("GetGate(%s): no rule ID (SDK not evaluating?)", u.name)
		}
		gateWant(u.name+" gate", u.user, g.Value, g.RuleID)
	}

	for _, u := range []struct {
		name, rule, currency string
		user                 statsig.User
	}{{"ada", "4hTdachCountryRule03", "EUR", ada}, {"carla", "4hTdachCountryRule03", "EUR", carla}, {"bob", "default", "USD", bob}} {
		c := client.GetConfig(u.user, pricing)
		if c.RuleID != u.rule || c.GetString("currency", "") != u.currency {
			t.Fatalf("GetConfig(%s, %s): rule %q currency %q, want %q %q", u.name, pricing, c.RuleID, c.GetString("currency", ""), u.rule, u.currency)
		}
		wants = append(wants, wantTrack{desc: u.name + " config", event: "statsig::config_exposure", user: u.user,
			meta:   map[string]string{"config": pricing, "ruleID": c.RuleID, "rulePassed": strconv.FormatBool(c.RuleID != "default")},
			noMeta: []string{"experimentGroupName", "layer"}})
	}

	// Experiment and layer: ada and carla are in the experiment, bob is not.
	for _, u := range []struct {
		name string
		user statsig.User
	}{{"ada", ada}, {"carla", carla}, {"bob", bob}} {
		e := client.GetExperiment(u.user, exp)
		w := wantTrack{desc: u.name + " experiment", event: "statsig::experiment_exposure", user: u.user,
			meta: map[string]string{"config": exp, "ruleID": e.RuleID}, noMeta: []string{"layer"}}
		if u.name == "bob" {
			if e.RuleID != "targetingGate" || e.GroupName != "" {
				t.Fatalf("GetExperiment(bob): rule %q group %q, want targetingGate and no group", e.RuleID, e.GroupName)
			}
			// Outside every group: Statsig's analysis does not count him,
			// so the bridge reports a config exposure, not an experiment one.
			w.event = "statsig::config_exposure"
			w.noMeta = append(w.noMeta, "experimentGroupName")
			wants = append(wants, w)
			continue
		}
		if e.GroupName != "Control" && e.GroupName != "Test" {
			t.Fatalf("GetExperiment(%s): group %q (rule %q), want Control or Test", u.name, e.GroupName, e.RuleID)
		}
		groups[e.GroupName] = true
		w.meta["experimentGroupName"] = e.GroupName
		wants = append(wants, w)

		l := client.GetLayer(u.user, layer)
		if l.AllocatedExperimentName != exp {
			t.Fatalf("GetLayer(%s): allocated experiment %q, want %s", u.name, l.AllocatedExperimentName, exp)
		}
		if got, want := l.GetString(explicit, "none"), e.GetString(explicit, "?"); got != want {
			t.Fatalf("layer %s for %s: %q, want the experiment's %q", explicit, u.name, got, want)
		}
		if l.GetBool(implicit, true) {
			t.Fatalf("layer %s for %s: true, want false", implicit, u.name)
		}
		// An explicit parameter is an exposure of the allocated experiment.
		wants = append(wants, wantTrack{desc: u.name + " layer explicit", event: "statsig::experiment_exposure", user: u.user,
			meta: map[string]string{"config": exp, "layer": layer, "allocatedExperiment": exp, "parameterName": explicit,
				"isExplicitParameter": "true", "ruleID": l.RuleID, "experimentGroupName": e.GroupName}})
		// An implicit one stays a layer exposure.
		wants = append(wants, wantTrack{desc: u.name + " layer implicit", event: "statsig::layer_exposure", user: u.user,
			meta: map[string]string{"config": layer, "allocatedExperiment": "", "parameterName": implicit,
				"isExplicitParameter": "false", "ruleID": l.RuleID},
			noMeta: []string{"layer", "experimentGroupName"}})
	}
	if !groups["Control"] || !groups["Test"] {
		t.Fatalf("users did not cover both groups: %v", groups)
	}

	// Custom events.
	custom := func(desc string, u statsig.User, name, value string, meta map[string]string, at time.Time) {
		ev := statsig.Event{EventName: name, User: u, Value: value, Metadata: meta}
		if !at.IsZero() {
			ev.Time = at.UnixMilli()
		}
		client.LogEvent(ev)
		wants = append(wants, wantTrack{desc: desc, event: name, user: u, value: value, meta: meta, exactMeta: true, at: at})
	}
	custom("ada purchase", ada, "add_to_cart", "29.99", map[string]string{"sku": "SKU-001", "quantity": "2", "gift": "false"}, time.Time{})
	custom("ada page view", ada, "page_view", "/checkout/straße", map[string]string{"title": "Grüße aus Köln — 東京 🚀", "referrer": "https://example.org/"}, time.Time{})
	custom("carla signup", carla, "signup_completed", "", nil, time.UnixMilli(1700000000000))
	custom("carla order", carla, "Bestellung_Übermittelt", "1", map[string]string{"währung": "€"}, time.Time{})
	custom("bob search", bob, "search", "café crème", map[string]string{"query": "Ünïcödé 検索 ✓"}, time.Time{})
	custom("anon open", anon, "app_opened", "42", nil, time.Time{})

	client.Shutdown() // flushes synchronously: the bridge has answered by now
	end := time.Now()

	testwait.For(t, 15*time.Second, fmt.Sprintf("%d messages at the sink", len(wants)), func() bool { return s.Unique() >= len(wants) })
	msgs := s.Messages()
	if s.Unique() != len(wants) || len(msgs) != len(wants) {
		t.Errorf("sink has %d messages (%d unique), want exactly %d", len(msgs), s.Unique(), len(wants))
	}

	// Both the bridge and the SDK fetched the specs; the SDK asked for ID lists.
	dcs, idLists := 0, 0
	for _, h := range specs.Hits() {
		switch {
		case h.Code == 200 && h.Method == http.MethodGet:
			dcs++
		case h.Code == 200 && h.Path == "/v1/get_id_lists":
			idLists++
		}
	}
	if dcs < 2 || idLists < 1 {
		t.Errorf("specs server: %d config specs and %d ID list requests, want ≥ 2 and ≥ 1", dcs, idLists)
	}

	// The SDK reported no exception (a failed log_event would show up as a
	// POST /v1/sdk_exception at its API, the specs server).
	for _, h := range specs.Hits() {
		if h.Code == http.StatusNotFound {
			t.Errorf("unexpected request at the specs server: %s %s", h.Method, h.Path)
		}
	}

	// Transport: Basic auth with the write key, ≤ 32,000 bytes per message,
	// no private attribute anywhere.
	reqs := s.Requests()
	if len(reqs) == 0 {
		t.Fatal("no request at the sink")
	}
	for i, r := range reqs {
		if !r.AuthOK {
			t.Errorf("sink request %d: Authorization is not Basic base64(write key + \":\")", i)
		}
	}
	largest := 0
	for i, body := range s.Bodies() {
		if bytes.Contains(body, []byte(privateMarker)) {
			t.Errorf("sink request %d carries the private attribute value", i)
		}
		var env struct {
			Batch []json.RawMessage `json:"batch"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			t.Fatalf("sink request %d: not a batch: %v", i, err)
		}
		for _, m := range env.Batch {
			largest = max(largest, len(m))
			if len(m) > 32000 {
				t.Errorf("sink request %d: a message of %d bytes (> 32,000)", i, len(m))
			}
		}
	}
	t.Logf("%d messages in %d Segment requests; largest message %d bytes", len(msgs), len(reqs), largest)

	ids := map[string]bool{}
	for _, m := range msgs {
		id, _ := m["messageId"].(string)
		if !uuidShape.MatchString(id) {
			t.Errorf("messageId %q is not UUID-shaped", id)
		}
		if ids[id] {
			t.Errorf("messageId %q twice", id)
		}
		ids[id] = true
		if hasKey(m, "privateAttributes") {
			t.Errorf("message %s has a privateAttributes field", id)
		}
	}

	for _, w := range wants {
		m := findTrack(t, msgs, w)
		if m == nil {
			continue
		}
		checkTrack(t, w, m, start, end)
	}
}

// identities returns the userId and anonymousId the default mapping gives u.
func identities(u statsig.User) (userID, anonID string) {
	return u.UserID, u.CustomIDs["stableID"]
}

// findTrack returns the one message for w, matched by event, identities,
// w.meta and w.noMeta; it reports an error when there is none or more than one.
func findTrack(t *testing.T, msgs []map[string]any, w wantTrack) map[string]any {
	t.Helper()
	uid, aid := identities(w.user)
	var found []map[string]any
	var near []string
	for _, m := range msgs {
		if m["event"] != w.event || str(m["userId"]) != uid || str(m["anonymousId"]) != aid {
			continue
		}
		md, _ := dig(m, "properties", "metadata").(map[string]any)
		ok := true
		for k, v := range w.meta {
			if got, present := md[k]; !present || got != v {
				ok = false
			}
		}
		for _, k := range w.noMeta {
			if _, present := md[k]; present {
				ok = false
			}
		}
		if ok {
			found = append(found, m)
		} else {
			j, _ := json.Marshal(md)
			near = append(near, string(j))
		}
	}
	switch len(found) {
	case 1:
		return found[0]
	case 0:
		t.Errorf("%s: no %s message for userId %q anonymousId %q with metadata %v; same event and user had metadata %v",
			w.desc, w.event, uid, aid, w.meta, near)
	default:
		t.Errorf("%s: %d messages match, want 1", w.desc, len(found))
	}
	return nil
}

// checkTrack asserts one message field by field against the mapping table.
func checkTrack(t *testing.T, w wantTrack, m map[string]any, start, end time.Time) {
	t.Helper()
	errf := func(format string, args ...any) { t.Errorf(w.desc+": "+format, args...) }
	if m["type"] != "track" {
		errf("type %v, want track", m["type"])
	}
	uid, aid := identities(w.user)
	if _, present := m["userId"]; present != (uid != "") {
		errf("userId present=%v, want %v", present, uid != "")
	}
	if _, present := m["anonymousId"]; present != (aid != "") {
		errf("anonymousId present=%v, want %v", present, aid != "")
	}

	// properties.value: the Go SDK always sends a string, "" for exposures.
	props, _ := m["properties"].(map[string]any)
	if props == nil {
		errf("no properties object")
	}
	if v, present := props["value"]; w.value == "" && present {
		errf("properties.value %#v, want none", v)
	} else if w.value != "" && v != w.value {
		errf("properties.value %#v, want %q", v, w.value)
	}
	md, mdPresent := props["metadata"]
	if w.exactMeta {
		if w.meta == nil {
			if mdPresent {
				errf("properties.metadata %v, want none", md)
			}
		} else {
			want, _ := json.Marshal(w.meta)
			got, _ := json.Marshal(md)
			if !jsonEqual(want, got) {
				errf("properties.metadata %s, want %s", got, want)
			}
		}
	}
	mdm, _ := md.(map[string]any)
	for _, k := range w.noMeta {
		if v, present := mdm[k]; present {
			errf("properties.metadata.%s = %v, want absent", k, v)
		}
	}
	if strings.HasPrefix(w.event, "statsig::") {
		for _, k := range []string{"configSyncTime", "initTime", "reason"} {
			if _, present := mdm[k]; !present {
				errf("properties.metadata.%s missing: exposure metadata must pass through whole", k)
			}
		}
	}

	// Times: RFC 3339, UTC, milliseconds.
	ts, ots := str(m["timestamp"]), str(m["originalTimestamp"])
	for name, v := range map[string]string{"timestamp": ts, "originalTimestamp": ots} {
		if !rfc3339ms.MatchString(v) {
			errf("%s %q is not RFC 3339 UTC with milliseconds", name, v)
		}
	}
	tt, err1 := time.Parse(time.RFC3339Nano, ts)
	ot, err2 := time.Parse(time.RFC3339Nano, ots)
	if err1 == nil && err2 == nil {
		if w.at.IsZero() {
			lo, hi := start.Truncate(time.Millisecond), end
			if ot.Before(lo) || ot.After(hi) {
				errf("originalTimestamp %s outside the test run [%s, %s]", ots, lo.UTC().Format(time.RFC3339Nano), hi.UTC().Format(time.RFC3339Nano))
			}
		} else if !ot.Equal(w.at) {
			errf("originalTimestamp %s, want the event's own time %s", ots, w.at.UTC().Format("2006-01-02T15:04:05.000Z"))
		}
		// Same machine: the skew correction moves the time by milliseconds at most.
		if d := tt.Sub(ot); d < -5*time.Second || d > 5*time.Second {
			errf("timestamp %s is %s from originalTimestamp %s", ts, d, ots)
		}
	}

	// context.
	if v := dig(m, "context", "traits", "email"); w.user.Email != "" && v != w.user.Email {
		errf("context.traits.email %v, want %q", v, w.user.Email)
	} else if w.user.Email == "" && dig(m, "context", "traits") != nil {
		errf("context.traits %v, want none (user has no e-mail)", dig(m, "context", "traits"))
	}
	if v := dig(m, "context", "library", "name"); v != "statsig-bridge" {
		errf("context.library.name %v", v)
	}
	if v, _ := dig(m, "context", "library", "version").(string); v == "" {
		errf("context.library.version empty")
	}
	if v := dig(m, "context", "integration", "name"); v != "statsig" {
		errf("context.integration.name %v", v)
	}
	if v := dig(m, "context", "integration", "version"); v != "1.0.0" {
		errf("context.integration.version %v", v)
	}
	if v := dig(m, "context", "statsig", "sdkType"); v != "go-sdk" {
		errf("context.statsig.sdkType %v, want go-sdk", v)
	}
	if v := dig(m, "context", "statsig", "sdkVersion"); v != "v1.35.1" {
		errf("context.statsig.sdkVersion %v, want v1.35.1", v)
	}
	if v := dig(m, "context", "statsig", "source"); v != "sdk" {
		errf("context.statsig.source %v, want sdk", v)
	}
	if v := dig(m, "context", "statsig", "environment", "tier"); v != "staging" {
		errf("context.statsig.environment.tier %v, want staging", v)
	}
}

func dig(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func str(v any) string { s, _ := v.(string); return s }

// hasKey reports whether key names a field anywhere in v.
func hasKey(v any, key string) bool {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if k == key || hasKey(e, key) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if hasKey(e, key) {
				return true
			}
		}
	}
	return false
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}
