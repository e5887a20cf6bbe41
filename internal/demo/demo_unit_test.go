package demo

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/specsapi"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

func TestPopulationIsDeterministicAndMixed(t *testing.T) {
	a := population(rand.New(rand.NewPCG(7, 1)), DefaultUsers)
	b := population(rand.New(rand.NewPCG(7, 1)), DefaultUsers)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed gave two different populations")
	}
	if reflect.DeepEqual(a, population(rand.New(rand.NewPCG(8, 1)), DefaultUsers)) {
		t.Fatal("two seeds gave the same population")
	}
	var anon, email, company, employees int
	countries, sdks, stable := map[string]bool{}, map[sdk]int{}, map[string]bool{}
	for _, u := range a {
		stable[u.StableID] = true
		sdks[u.SDK]++
		switch {
		case u.Anonymous():
			anon++
			if u.Email != "" || u.Country != "" {
				t.Errorf("a stableID-only user has more: %+v", u)
			}
		default:
			countries[u.Country] = true
		}
		if u.Email != "" {
			email++
		}
		if strings.HasSuffix(u.Email, "@acme.example") {
			employees++
		}
		if u.CompanyID != "" {
			company++
		}
	}
	if len(stable) != len(a) {
		t.Errorf("stableIDs repeat: %d distinct of %d", len(stable), len(a))
	}
	if anon < 80 || anon > 160 || email < 120 || company == 0 || employees == 0 || len(countries) < 8 {
		t.Errorf("population mix off: %d stableID-only, %d with email, %d with companyID, %d employees, %d countries",
			anon, email, company, employees, len(countries))
	}
	if sdks[sdkGo] == 0 || sdks[sdkJS] == 0 || sdks[sdkNodeJS] == 0 {
		t.Errorf("not every SDK has users: %v", sdks)
	}
}

// TestSessionsUseTheSpecsRuleIDs checks every exposure the generator can
// write against specs.json: the bridge resolves experiments by rule ID.
func TestSessionsUseTheSpecsRuleIDs(t *testing.T) {
	specs, err := statsig.ParseSpecs(specsJSON)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	users := population(rng, DefaultUsers)
	w := &sessionWriter{rng: rng, poisonEvery: 10}
	names := map[string]int{}
	groups := map[string]bool{}
	var poisoned int
	for i := range 2000 {
		u := &users[i%len(users)]
		for _, e := range w.session(u, u.SDK, 1_800_000_000_000) {
			names[e.Name]++
			for _, f := range e.Metadata {
				if f.V == PoisonSKU {
					poisoned++
				}
			}
			x := e.Exposure
			if x == nil {
				continue
			}
			switch x.Kind {
			case "gate":
				if !bytes.Contains(specsJSON, []byte(`"name": "`+x.Name+`"`)) {
					t.Fatalf("gate %s is not in specs.json", x.Name)
				}
				if x.RuleID != ruleDefault && !bytes.Contains(specsJSON, []byte(`"id": "`+x.RuleID+`"`)) {
					t.Fatalf("gate %s: rule %s is not in specs.json", x.Name, x.RuleID)
				}
			default:
				c := specs.Config(x.Name)
				if c == nil {
					t.Fatalf("%s %s is not in specs.json", x.Kind, x.Name)
				}
				r, ok := c.Rules[x.RuleID]
				if x.Kind == "layer" {
					r, ok = specs.Config(expCheckout).Rules[x.RuleID]
				}
				if !ok && x.RuleID != ruleDefault {
					t.Fatalf("%s: rule %s is not in specs.json", x.Name, x.RuleID)
				}
				if c.IsExperiment() != x.Experiment {
					t.Errorf("%s: experiment %v in specs, %v in the generator", x.Name, c.IsExperiment(), x.Experiment)
				}
				if c.IsExperiment() || x.Kind == "layer" {
					groups[x.Name+"/"+r.GroupName] = true
				}
			}
		}
	}
	for _, n := range []string{"statsig::gate_exposure", "statsig::config_exposure", "statsig::layer_exposure", "statsig::diagnostics",
		"page_view", "search", "add_to_cart", "checkout_started", "checkout_completed", "logout"} {
		if names[n] == 0 {
			t.Errorf("2000 visits had no %s: %v", n, names)
		}
	}
	for _, g := range []string{"checkout_button_experiment/Control", "checkout_button_experiment/Green button", "checkout_layer/Control",
		"onboarding_flow_experiment/Control", "onboarding_flow_experiment/Short form", "onboarding_flow_experiment/Intro video"} {
		if !groups[g] {
			t.Errorf("no exposure in group %s: %v", g, groups)
		}
	}
	if want := names["add_to_cart"] / 10; poisoned != want {
		t.Errorf("%d poisoned carts of %d, want every 10th (%d)", poisoned, names["add_to_cart"], want)
	}
}

func TestSpecsServerAnswersLikeStatsig(t *testing.T) {
	srv := httptest.NewServer(specsHandler())
	defer srv.Close()
	c := specsapi.NewClient(specsapi.Config{Base: srv.URL + "/v1", Secret: ServerSecret})
	specs, err := c.Fetch(context.Background(), 0)
	if err != nil || specs == nil {
		t.Fatalf("fetch: %v, %v", specs, err)
	}
	exp := specs.Config(expCheckout)
	if !exp.IsExperiment() || exp.Layer != layerCheckout || exp.Rules["5yQcheckoutBtnTest02"].GroupName != "Green button" ||
		!exp.Rules["5yQcheckoutBtnTest02"].IsExperimentGroup {
		t.Errorf("checkout experiment: %+v", exp)
	}
	if on := specs.Config(expOnboarding); !on.IsExperiment() || on.IDType != "stableID" || len(on.Rules) != 3 {
		t.Errorf("onboarding experiment: %+v", on)
	}
	if specs.Config(configPricing).IsExperiment() {
		t.Error("pricing_config is reported as an experiment")
	}
	if again, err := c.Fetch(context.Background(), specs.Time); err != nil || again != nil {
		t.Errorf("a refresh since the specs' time should say has_updates false: %v, %v", again, err)
	}
	bad := specsapi.NewClient(specsapi.Config{Base: srv.URL + "/v1", Secret: "secret-other"})
	if _, err := bad.Fetch(context.Background(), 0); !errors.Is(err, specsapi.ErrUnauthorized) {
		t.Errorf("another secret: %v, want ErrUnauthorized", err)
	}
}

func TestSinkFailsOnPurpose(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := NewSink()
	s.now = func() time.Time { return now }
	s.start = now
	srv := httptest.NewServer(s)
	defer srv.Close()
	post := func(key, body string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/batch", strings.NewReader(body))
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(key+":")))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	good := `{"batch":[{"type":"track","event":"page_view","anonymousId":"a","messageId":"m1"}]}`
	poisoned := `{"batch":[{"type":"track","event":"add_to_cart","userId":"u","messageId":"m2","properties":{"sku":"` + PoisonSKU + `"}}]}`
	if code := post(WriteKey, good); code != http.StatusOK {
		t.Errorf("good batch: %d", code)
	}
	if code := post("other-key", good); code != http.StatusUnauthorized {
		t.Errorf("wrong write key: %d", code)
	}
	if code := post(WriteKey, poisoned); code != http.StatusBadRequest {
		t.Errorf("poisoned batch: %d", code)
	}
	now = now.Add(DefaultOutageOffset + time.Second) // in the outage
	if code := post(WriteKey, good); code != http.StatusServiceUnavailable {
		t.Errorf("during the outage: %d", code)
	}
	now = now.Add(DefaultOutageFor) // after it
	if code := post(WriteKey, good); code != http.StatusOK {
		t.Errorf("after the outage: %d", code)
	}
	st := s.Stats()
	if st != (SinkStats{Messages: 2, Batches: 2, Unavailable: 1, Refused: 1, Unauthorized: 1}) {
		t.Errorf("stats: %+v", st)
	}
	if m := s.Messages(); len(m) != 2 || m[0]["messageId"] != "m1" {
		t.Errorf("messages: %v", m)
	}
}
