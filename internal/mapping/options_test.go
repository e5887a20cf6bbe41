package mapping

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"

	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// TestEmailDropRefusesEmailAsIdentifier: "drop" promises the address never
// leaves the bridge; an identifier chain naming email would break that.
func TestEmailDropRefusesEmailAsIdentifier(t *testing.T) {
	errs := mappingconfig.Options{Email: mappingconfig.EmailDrop, UserID: []string{"userID", "email"}}.Validate()
	if len(errs) != 1 || !strings.Contains(errs[0], "email: hash") {
		t.Fatalf("Validate = %v, want one problem suggesting email: hash", errs)
	}
	if errs := (mappingconfig.Options{Email: mappingconfig.EmailHash, UserID: []string{"email"}}).Validate(); len(errs) != 0 {
		t.Fatalf("hash with email as identifier: %v", errs)
	}
}

// TestSecondaryExposuresResolveHashedGates: the js-client reports the gates
// evaluated on the way by djb2 hash; with specs they get their names back.
func TestSecondaryExposuresResolveHashedGates(t *testing.T) {
	specs, err := statsig.ParseSpecs([]byte(`{"time":1,"feature_gates":[{"name":"bridge_checkout_gate","entity":"feature_gate","rules":[]}],"dynamic_configs":[],"layer_configs":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	m := New(mappingconfig.Options{SecondaryExposures: true}, func() *statsig.Specs { return specs }, Library{Name: "t", Version: "1"})
	b := &statsig.Batch{ReceivedAt: 1}
	e := &statsig.Event{ID: "id", EventName: statsig.GateExposure, User: &statsig.User{UserID: "u"},
		Metadata:           json.RawMessage(`{"gate":"bridge_checkout_gate"}`),
		SecondaryExposures: json.RawMessage(`[{"gate":"4192085486","gateValue":"true","ruleID":"r"}]`)}
	r := m.Map(b, e)
	if !strings.Contains(string(r.Track.Properties), `"gate":"bridge_checkout_gate","gateValue":"true"`) {
		t.Fatalf("properties %s: hashed gate not resolved", r.Track.Properties)
	}
}
