package mapping_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"

	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// FuzzMapProducesValidMessages decodes any SDK body or webhook batch and maps every event
// with every option that changes the output: each message must be one
// valid JSON object with object properties and context, whatever the
// metadata, value and user fields held.
func FuzzMapProducesValidMessages(f *testing.F) {
	for _, req := range loadFixtureRequests(f) {
		f.Add(req.Body(f))
	}
	f.Add([]byte(`{"events":[{"eventName":"statsig::config_exposure","user":{"userID":"u","custom":[1],"statsigEnvironment":"x"},"value":{"a":1},"metadata":{"config":"bridge_button_experiment","ruleID":"5yQbPMfmKQdiRV35hS3B2l"}}]}`))
	f.Add([]byte(`{"events":[{"eventName":"statsig::layer_exposure","userID":"u","metadata":{"config":"l","allocatedExperiment":"3779793908","ruleID":"x","isExplicitParameter":1}},{"eventName":"statsig::experiment_exposure","userID":"u","metadata":[]}]}`))
	specs := loadSpecs(f, "js-client")
	mappers := []*mapping.Mapper{
		mapping.New(mappingconfig.Options{}, nil, testLib),
		mapping.New(mappingconfig.Options{}, func() *statsig.Specs { return specs }, testLib),
		mapping.New(mappingconfig.Options{
			Types:       statsig.Kinds,
			UserID:      []string{"email", "userID", "customIDs.companyID"},
			AnonymousID: []string{"stableID", "customIDs.deviceID"},
			Email:       mappingconfig.EmailHash, IPAndUserAgent: true, UserTraits: true, SecondaryExposures: true,
			Experiments: []string{"*"},
		}, nil, testLib),
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		b, _, err := statsig.DecodeRequest(body, statsig.RequestInfo{ReceivedAt: time.UnixMilli(1_800_000_000_150), ClientTime: 1_800_000_000_000, SDKKey: "k"})
		if err != nil {
			// The webhook fixtures' {"data":[…]} batches.
			if b, _, err = statsig.DecodeWebhook(body, time.UnixMilli(1_800_000_000_150), 0); err != nil {
				return
			}
		}
		for i := range b.Events {
			for _, m := range mappers {
				res := m.Map(b, &b.Events[i])
				if res.Status == mapping.Filtered {
					continue
				}
				raw := res.Track.AppendJSON(nil)
				var msg struct {
					Event      string          `json:"event"`
					MessageID  string          `json:"messageId"`
					Properties json.RawMessage `json:"properties"`
					Context    json.RawMessage `json:"context"`
				}
				if err := json.Unmarshal(raw, &msg); err != nil {
					t.Fatalf("event %d: message is not JSON (%v): %s", i, err, raw)
				}
				for name, obj := range map[string]json.RawMessage{"properties": msg.Properties, "context": msg.Context} {
					var o map[string]json.RawMessage
					if json.Unmarshal(obj, &o) != nil {
						t.Fatalf("event %d: %s is not an object: %s", i, name, obj)
					}
				}
				if (res.Status == mapping.Invalid) != (res.Track.Validate() != nil) {
					t.Fatalf("event %d: status %d but Validate = %v", i, res.Status, res.Track.Validate())
				}
				if msg.MessageID != b.Events[i].ID || msg.Event == "" {
					t.Fatalf("event %d: messageId %q event %q", i, msg.MessageID, msg.Event)
				}
			}
		}
	})
}
