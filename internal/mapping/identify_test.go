package mapping

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"

	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

func identifyOf(t *testing.T, opts mappingconfig.Options, u *statsig.User) (map[string]any, *Identify) {
	t.Helper()
	opts.Identify = mappingconfig.IdentifyOnChange
	m := New(opts, nil, Library{Name: "t", Version: "1"})
	b := &statsig.Batch{ReceivedAt: 1795540399245, Source: statsig.SourceSDK}
	e := &statsig.Event{ID: "id-1", EventName: "viewed", User: u, Time: 1795540399245}
	r := m.Map(b, e)
	if r.Status != Mapped {
		t.Fatalf("map: %v %s", r.Status, r.Reason)
	}
	id := m.Identify(b, e, &r.Track)
	if id == nil {
		t.Fatal("no identify")
	}
	var msg map[string]any
	if err := json.Unmarshal(id.JSON, &msg); err != nil {
		t.Fatalf("identify JSON %s: %v", id.JSON, err)
	}
	return msg, id
}

// TestIdentifyTraits: custom fields are top-level traits; email follows
// the email option and a custom "email" cannot bring a dropped or hashed
// address back; ip and userAgent only with ip_and_user_agent.
func TestIdentifyTraits(t *testing.T) {
	u := &statsig.User{UserID: "u1", Email: "Ada@Example.com", Country: "DE", Locale: "de_DE", AppVersion: "2.1", IP: "1.2.3.4", UserAgent: "ua",
		Custom: json.RawMessage(`{"plan":"pro","seats":3,"email":"leak@example.com","country":"FR"}`)}
	msg, _ := identifyOf(t, mappingconfig.Options{}, u)
	traits := msg["traits"].(map[string]any)
	if msg["type"] != "identify" || msg["userId"] != "u1" || traits["plan"] != "pro" || traits["seats"] != float64(3) ||
		traits["email"] != "Ada@Example.com" || traits["country"] != "DE" || traits["locale"] != "de_DE" || traits["appVersion"] != "2.1" {
		t.Errorf("identify %v", msg)
	}
	if _, ok := traits["ip"]; ok {
		t.Errorf("ip without ip_and_user_agent: %v", traits)
	}
	msg, _ = identifyOf(t, mappingconfig.Options{Email: mappingconfig.EmailHash, IPAndUserAgent: true}, u)
	traits = msg["traits"].(map[string]any)
	if traits["email"] != nil || traits["email_sha256"] != hashEmail("ada@example.com") || traits["ip"] != "1.2.3.4" || traits["userAgent"] != "ua" {
		t.Errorf("hash mode traits %v", traits)
	}
	msg, _ = identifyOf(t, mappingconfig.Options{Email: mappingconfig.EmailDrop}, u)
	if s, _ := json.Marshal(msg); strings.Contains(string(s), "example.com") {
		t.Errorf("email: drop, but the identify holds an address: %s", s)
	}
}

// TestIdentifyDeterministic: the messageId and traits hash depend on the
// unit and traits only (not the event or the order of custom fields), and
// change with either.
func TestIdentifyDeterministic(t *testing.T) {
	a := &statsig.User{UserID: "u1", Custom: json.RawMessage(`{"plan":"pro","seats":3}`)}
	b := &statsig.User{UserID: "u1", Custom: json.RawMessage(`{"seats":3,"plan":"pro"}`)}
	c := &statsig.User{UserID: "u1", Custom: json.RawMessage(`{"seats":3,"plan":"team"}`)}
	d := &statsig.User{UserID: "u2", Custom: json.RawMessage(`{"plan":"pro","seats":3}`)}
	ma, ia := identifyOf(t, mappingconfig.Options{}, a)
	mb, ib := identifyOf(t, mappingconfig.Options{}, b)
	mc, ic := identifyOf(t, mappingconfig.Options{}, c)
	md, id := identifyOf(t, mappingconfig.Options{}, d)
	if ma["messageId"] != mb["messageId"] || ia.TraitsHash != ib.TraitsHash || ia.Unit != ib.Unit {
		t.Errorf("same traits in another order: %v vs %v", ma["messageId"], mb["messageId"])
	}
	if ma["messageId"] == mc["messageId"] || ia.TraitsHash == ic.TraitsHash {
		t.Error("changed traits kept the messageId")
	}
	if ma["messageId"] == md["messageId"] || ia.Unit == id.Unit {
		t.Error("another user got the same messageId")
	}
	if strings.Contains(ia.Unit, "u1") || len(ia.Unit) != 64 {
		t.Errorf("unit key %q is not a digest", ia.Unit)
	}
}

// TestExposureKey: unit × entity × outcome; a flipped gate, another group
// or another layer parameter is a new key; custom events have none.
func TestExposureKey(t *testing.T) {
	ev := func(name, md string) *statsig.Event {
		return &statsig.Event{EventName: name, Metadata: json.RawMessage(md)}
	}
	gate := ev(statsig.GateExposure, `{"gate":"g","gateValue":"true","ruleID":"r1","reason":"Network","time":"1"}`)
	same := ev(statsig.GateExposure, `{"gate":"g","gateValue":"true","ruleID":"r1","reason":"Bootstrap","time":"2"}`)
	flipped := ev(statsig.GateExposure, `{"gate":"g","gateValue":"false","ruleID":"r1"}`)
	cfgA := ev(statsig.ConfigExposure, `{"config":"exp","ruleID":"groupA"}`)
	cfgB := ev(statsig.ConfigExposure, `{"config":"exp","ruleID":"groupB"}`)
	hook := ev(statsig.ExperimentExposure, `{"config":"exp","ruleID":"groupA","experimentGroupName":"A"}`)
	p1 := ev(statsig.LayerExposure, `{"config":"layer","ruleID":"r","allocatedExperiment":"exp","parameterName":"p1"}`)
	p2 := ev(statsig.LayerExposure, `{"config":"layer","ruleID":"r","allocatedExperiment":"exp","parameterName":"p2"}`)
	k := func(e *statsig.Event, unit string) string { return ExposureKey(e, unit) }
	if k(gate, "u1") != k(same, "u1") {
		t.Error("the same gate outcome with another reason and time is another key")
	}
	for name, pair := range map[string][2]string{
		"flipped gate":    {k(gate, "u1"), k(flipped, "u1")},
		"another user":    {k(gate, "u1"), k(gate, "u2")},
		"another group":   {k(cfgA, "u1"), k(cfgB, "u1")},
		"layer parameter": {k(p1, "u1"), k(p2, "u1")},
	} {
		if pair[0] == pair[1] {
			t.Errorf("%s: same key", name)
		}
	}
	if k(cfgA, "u1") != k(hook, "u1") {
		t.Error("the webhook's experiment exposure and the SDK's config exposure of one group differ")
	}
	if k(ev("checkout", `{}`), "u1") != "" || k(gate, "") != "" {
		t.Error("a custom event or an exposure without unit got a key")
	}
	if key := k(gate, "ada@example.com"); len(key) != 64 || strings.Contains(key, "@") {
		t.Errorf("key %q is not a hex digest", key)
	}
}
