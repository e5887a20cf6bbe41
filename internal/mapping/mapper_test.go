package mapping_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"

	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

var testLib = mapping.Library{Name: "statsig-bridge", Version: "test"}

// mapOne decodes an SDK request body holding one event, as the intake
// would, and maps that event.
func mapOne(t *testing.T, opts mappingconfig.Options, specs *statsig.Specs, body string) (mapping.Result, map[string]any) {
	t.Helper()
	b, rej, err := statsig.DecodeRequest([]byte(body), statsig.RequestInfo{
		ReceivedAt: time.UnixMilli(1_700_000_000_150), ClientTime: 1_700_000_000_000, SDKKey: "k",
	})
	if err != nil || len(rej) != 0 || len(b.Events) != 1 {
		t.Fatalf("decoding %s: err %v, rejections %v, events %d", body, err, rej, len(b.Events))
	}
	return mapEvent(t, opts, specs, b, &b.Events[0])
}

func mapEvent(t *testing.T, opts mappingconfig.Options, specs *statsig.Specs, b *statsig.Batch, e *statsig.Event) (mapping.Result, map[string]any) {
	t.Helper()
	var fn func() *statsig.Specs
	if specs != nil {
		fn = func() *statsig.Specs { return specs }
	}
	res := mapping.New(opts, fn, testLib).Map(b, e)
	if res.Status == mapping.Filtered {
		return res, nil
	}
	raw := res.Track.AppendJSON(nil)
	var msg map[string]any
	if err := json.Unmarshal(raw, &msg); err != nil {
		t.Fatalf("Track.AppendJSON is not valid JSON: %v\n%s", err, raw)
	}
	return res, msg
}

// get walks a decoded message: get(msg, "properties", "metadata", "config").
func get(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func has(v any, path ...string) bool {
	last := path[len(path)-1]
	m, ok := get(v, path[:len(path)-1]...).(map[string]any)
	if !ok {
		return false
	}
	_, ok = m[last]
	return ok
}

func events(ev string) string { return `{"events":[` + ev + `]}` }

func TestMapFiltersByTypeAndName(t *testing.T) {
	const (
		gate   = `{"eventName":"statsig::gate_exposure","user":{"userID":"u"},"metadata":{"gate":"g","gateValue":"true","ruleID":"r"}}`
		cart   = `{"eventName":"add_to_cart","user":{"userID":"u"}}`
		view   = `{"eventName":"page_view","user":{"userID":"u"}}`
		diag   = `{"eventName":"statsig::diagnostics","user":{"userID":"u"}}`
		change = `{"eventName":"statsig::config_change","user":{"userID":"u"}}`
	)
	tests := []struct {
		name   string
		opts   mappingconfig.Options
		event  string
		sent   bool
		reason string
	}{
		{"default sends gate exposures", mappingconfig.Options{}, gate, true, ""},
		{"default sends custom events", mappingconfig.Options{}, cart, true, ""},
		{"default drops SDK diagnostics", mappingconfig.Options{}, diag, false, "event type internal not selected"},
		{"default drops config changes", mappingconfig.Options{}, change, false, "event type config_change not selected"},
		{"internal sent when selected", mappingconfig.Options{Types: []statsig.Kind{statsig.KindInternal}}, diag, true, ""},
		{"type not selected", mappingconfig.Options{Types: []statsig.Kind{statsig.KindCustom}}, gate, false, "event type gate_exposure not selected"},
		{"include glob matches", mappingconfig.Options{Include: []string{"add_*"}}, cart, true, ""},
		{"include glob misses", mappingconfig.Options{Include: []string{"add_*"}}, view, false, "event name not in include list"},
		{"include * spans ::", mappingconfig.Options{Include: []string{"statsig::*"}}, gate, true, ""},
		{"include ? is one character", mappingconfig.Options{Include: []string{"page_vie?"}}, view, true, ""},
		{"include ? needs a character", mappingconfig.Options{Include: []string{"page_view?"}}, view, false, "event name not in include list"},
		{"include is not a substring match", mappingconfig.Options{Include: []string{"add"}}, cart, false, "event name not in include list"},
		{"exclude glob", mappingconfig.Options{Exclude: []string{"*_cart"}}, cart, false, "event name excluded"},
		{"exclude leaves others", mappingconfig.Options{Exclude: []string{"*_cart"}}, view, true, ""},
		{"exclude wins over include", mappingconfig.Options{Include: []string{"*"}, Exclude: []string{"add_to_cart"}}, cart, false, "event name excluded"},
		{"type filter before name filter", mappingconfig.Options{Types: []statsig.Kind{statsig.KindGate}, Include: []string{"*"}}, cart, false, "event type custom not selected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _ := mapOne(t, tt.opts, nil, events(tt.event))
			if tt.sent {
				if res.Status != mapping.Mapped {
					t.Fatalf("status %d (%s), want sent", res.Status, res.Reason)
				}
				return
			}
			if res.Status != mapping.Filtered || res.Reason != tt.reason {
				t.Fatalf("status %d reason %q, want filtered: %q", res.Status, res.Reason, tt.reason)
			}
		})
	}
}

// The name filters apply to the name sent: a config exposure that the specs
// resolve to an experiment is included by "statsig::experiment_exposure".
func TestMapIncludeMatchesResolvedName(t *testing.T) {
	specs := loadSpecs(t, "js-client")
	ev := events(`{"eventName":"statsig::config_exposure","user":{"userID":"u"},"metadata":{"config":"bridge_button_experiment","ruleID":"5yQbPMfmKQdiRV35hS3B2m"}}`)
	res, _ := mapOne(t, mappingconfig.Options{Include: []string{"statsig::experiment_exposure"}}, specs, ev)
	if res.Status != mapping.Mapped {
		t.Fatalf("status %d (%s)", res.Status, res.Reason)
	}
	res, _ = mapOne(t, mappingconfig.Options{Exclude: []string{"statsig::config_exposure"}}, specs, ev)
	if res.Status != mapping.Mapped {
		t.Fatalf("excluding config exposures dropped an experiment exposure: %s", res.Reason)
	}
	res, _ = mapOne(t, mappingconfig.Options{Types: []statsig.Kind{statsig.KindConfig}}, specs, ev)
	if res.Status != mapping.Filtered {
		t.Fatal("an experiment exposure passed a config-only type filter")
	}
}

func TestMapIdentifiers(t *testing.T) {
	tests := []struct {
		name      string
		opts      mappingconfig.Options
		body      string
		userID    string // "" = absent
		anonID    string // "" = absent
		deadLeter bool
	}{
		{
			name:   "defaults: userID and the user's stableID",
			body:   events(`{"eventName":"e","user":{"userID":"u-1","customIDs":{"stableID":"s-user"}},"statsigMetadata":{"stableID":"s-event"}}`),
			userID: "u-1", anonID: "s-user",
		},
		{
			name:   "numeric userID is sent as a string",
			body:   events(`{"eventName":"e","user":{"userID":12345}}`),
			userID: "12345",
		},
		{
			name:   "event-level userID (webhook shape)",
			body:   events(`{"eventName":"e","userID":"u-top"}`),
			userID: "u-top",
		},
		{
			name:   "stableID from the event's statsigMetadata when the user has none",
			body:   events(`{"eventName":"e","user":{"userID":"u"},"statsigMetadata":{"stableID":"s-event"}}`),
			userID: "u", anonID: "s-event",
		},
		{
			name:   "stableID from the request when neither user nor event has one",
			body:   `{"events":[{"eventName":"e","user":{"userID":"u"}}],"statsigMetadata":{"stableID":"s-batch"}}`,
			userID: "u", anonID: "s-batch",
		},
		{
			name:   "the user's stableID wins over the request's",
			body:   `{"events":[{"eventName":"e","user":{"customIDs":{"stableID":"s-user"}}}],"statsigMetadata":{"stableID":"s-batch"}}`,
			anonID: "s-user",
		},
		{
			name:   "the event's stableID wins over the request's",
			body:   `{"events":[{"eventName":"e","statsigMetadata":{"stableID":"s-event"}}],"statsigMetadata":{"stableID":"s-batch"}}`,
			anonID: "s-event",
		},
		{
			name:   "Go's empty userID: anonymous only",
			body:   events(`{"eventName":"e","user":{"userID":"","customIDs":{"stableID":"s"}}}`),
			anonID: "s",
		},
		{
			name:   "userID falls back to a custom ID",
			opts:   mappingconfig.Options{UserID: []string{"userID", "customIDs.companyID"}},
			body:   events(`{"eventName":"e","user":{"customIDs":{"companyID":"globex"}}}`),
			userID: "globex",
		},
		{
			name:   "whitespace userID is empty and falls back",
			opts:   mappingconfig.Options{UserID: []string{"userID", "customIDs.companyID"}},
			body:   events(`{"eventName":"e","user":{"userID":"  ","customIDs":{"companyID":"globex"}}}`),
			userID: "globex",
		},
		{
			name:   "first source wins",
			opts:   mappingconfig.Options{UserID: []string{"customIDs.companyID", "userID"}},
			body:   events(`{"eventName":"e","user":{"userID":"u","customIDs":{"companyID":"acme"}}}`),
			userID: "acme",
		},
		{
			name:   "anonymousId chain: stableID then a custom ID",
			opts:   mappingconfig.Options{AnonymousID: []string{"stableID", "customIDs.deviceID"}},
			body:   events(`{"eventName":"e","user":{"customIDs":{"deviceID":"d-1"}}}`),
			anonID: "d-1",
		},
		{
			name:   "email as userId, trait mode: the address",
			opts:   mappingconfig.Options{UserID: []string{"email"}},
			body:   events(`{"eventName":"e","user":{"email":"Ada@Example.org"}}`),
			userID: "Ada@Example.org",
		},
		{
			name:   "email as userId, hash mode: the hash, never the address",
			opts:   mappingconfig.Options{UserID: []string{"email"}, Email: mappingconfig.EmailHash},
			body:   events(`{"eventName":"e","user":{"email":" Ada@Example.org "}}`),
			userID: sha256Hex("ada@example.org"),
		},
		{
			name:      "a user known only by a custom ID, default mapping: dead letter",
			body:      events(`{"eventName":"e","user":{"customIDs":{"companyID":"globex"}}}`),
			deadLeter: true,
		},
		{
			name:      "no user at all: dead letter",
			body:      events(`{"eventName":"e"}`),
			deadLeter: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, msg := mapOne(t, tt.opts, nil, tt.body)
			if tt.deadLeter {
				if res.Status != mapping.Invalid || res.Reason != "no_user_anon_id" {
					t.Fatalf("status %d (%s), want dead letter no_user_anon_id", res.Status, res.Reason)
				}
				return
			}
			if res.Status != mapping.Mapped {
				t.Fatalf("status %d (%s)", res.Status, res.Reason)
			}
			checkID(t, msg, "userId", tt.userID)
			checkID(t, msg, "anonymousId", tt.anonID)
		})
	}
}

func checkID(t *testing.T, msg map[string]any, field, want string) {
	t.Helper()
	v, ok := msg[field]
	if want == "" {
		if ok {
			t.Errorf("%s = %#v, want absent", field, v)
		}
		return
	}
	if s, isString := v.(string); !isString || s != want {
		t.Errorf("%s = %#v, want the string %q", field, v, want)
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestMapEmailModes(t *testing.T) {
	body := events(`{"eventName":"e","user":{"userID":"u","email":" Ada@Example.org ","country":"DE"}}`)
	tests := []struct {
		mode   string
		traits map[string]any // nil = no traits object at all
	}{
		{"", map[string]any{"email": " Ada@Example.org "}},
		{mappingconfig.EmailTrait, map[string]any{"email": " Ada@Example.org "}},
		{mappingconfig.EmailHash, map[string]any{"email_sha256": sha256Hex("ada@example.org")}},
		{mappingconfig.EmailDrop, nil},
	}
	for _, tt := range tests {
		t.Run("email="+tt.mode, func(t *testing.T) {
			res, msg := mapOne(t, mappingconfig.Options{Email: tt.mode}, nil, body)
			if res.Status != mapping.Mapped {
				t.Fatalf("status %d (%s)", res.Status, res.Reason)
			}
			raw := string(res.Track.AppendJSON(nil))
			if tt.mode == mappingconfig.EmailHash || tt.mode == mappingconfig.EmailDrop {
				if strings.Contains(strings.ToLower(raw), "ada@example.org") {
					t.Fatalf("email %s: the address is in the message: %s", tt.mode, raw)
				}
			}
			traits, _ := get(msg, "context", "traits").(map[string]any)
			if tt.traits == nil {
				if has(msg, "context", "traits") {
					t.Fatalf("traits = %v, want none", traits)
				}
				return
			}
			if len(traits) != len(tt.traits) {
				t.Fatalf("traits = %v, want %v", traits, tt.traits)
			}
			for k, v := range tt.traits {
				if traits[k] != v {
					t.Errorf("traits.%s = %v, want %v", k, traits[k], v)
				}
			}
		})
	}
}

func TestMapUserTraitsAndPersonalData(t *testing.T) {
	body := events(`{"eventName":"e","user":{"userID":"u","ip":"203.0.113.7","userAgent":"UA","country":"DE","appVersion":"1.2","custom":{"plan":"pro","seats":12.0},"privateAttributes":{"ssn":"123-45-6789"}}}`)
	_, msg := mapOne(t, mappingconfig.Options{}, nil, body)
	raw, _ := json.Marshal(msg)
	for _, s := range []string{"203.0.113.7", `"UA"`, "privateAttributes", "123-45-6789", "plan"} {
		if strings.Contains(string(raw), s) {
			t.Errorf("default mapping sent %s: %s", s, raw)
		}
	}
	_, msg = mapOne(t, mappingconfig.Options{IPAndUserAgent: true, UserTraits: true}, nil, body)
	if get(msg, "context", "ip") != "203.0.113.7" || get(msg, "context", "userAgent") != "UA" {
		t.Errorf("ip/userAgent not mapped: %v", get(msg, "context"))
	}
	if get(msg, "context", "traits", "country") != "DE" || get(msg, "context", "traits", "custom", "plan") != "pro" ||
		get(msg, "context", "traits", "custom", "seats") != 12.0 {
		t.Errorf("traits = %v", get(msg, "context", "traits"))
	}
	raw, _ = json.Marshal(msg)
	if strings.Contains(string(raw), "privateAttributes") || strings.Contains(string(raw), "123-45-6789") {
		t.Errorf("privateAttributes left the bridge: %s", raw)
	}
}

func TestMapValue(t *testing.T) {
	tests := []struct {
		value string // JSON text of "value", "" = key absent
		want  any    // nil = properties.value absent
	}{
		{``, nil},
		{`null`, nil},
		{`""`, nil}, // Go sends "" for exposures and unset values
		{`"0"`, "0"},
		{`0`, 0.0},
		{`29.99`, 29.99},
		{`"29.99"`, "29.99"},
		{`" "`, " "},
		{`false`, false},
	}
	for _, tt := range tests {
		t.Run("value="+tt.value, func(t *testing.T) {
			ev := `{"eventName":"e","user":{"userID":"u"}`
			if tt.value != "" {
				ev += `,"value":` + tt.value
			}
			res, msg := mapOne(t, mappingconfig.Options{}, nil, events(ev+`}`))
			if res.Status != mapping.Mapped {
				t.Fatalf("status %d (%s)", res.Status, res.Reason)
			}
			props, ok := msg["properties"].(map[string]any)
			if !ok {
				t.Fatalf("properties is not an object: %#v", msg["properties"])
			}
			got, present := props["value"]
			if tt.want == nil {
				if present {
					t.Fatalf("properties.value = %#v, want absent", got)
				}
				return
			}
			if !present || got != tt.want {
				t.Fatalf("properties.value = %#v (present %v), want %#v", got, present, tt.want)
			}
		})
	}
}

func TestMapExperimentResolution(t *testing.T) {
	specs := loadSpecs(t, "js-client")
	const (
		control    = "5yQbPMfmKQdiRV35hS3B2l"
		test       = "5yQbPMfmKQdiRV35hS3B2m"
		hashedExp  = "3779793908" // djb2("bridge_button_experiment")
		experiment = "bridge_button_experiment"
	)
	ev := func(name, metadata string) string {
		return events(`{"eventName":"` + name + `","user":{"userID":"u"},"metadata":` + metadata + `}`)
	}
	tests := []struct {
		name      string
		specs     *statsig.Specs
		opts      mappingconfig.Options
		body      string
		wantEvent string
		wantKind  statsig.Kind
		wantNote  mapping.Notes
		// wantMeta lists metadata fields and their values; "" = absent.
		wantMeta map[string]string
	}{
		{
			name: "config exposure of an experiment becomes an experiment exposure with its group", specs: specs,
			body:      ev(statsig.ConfigExposure, `{"config":"bridge_button_experiment","ruleID":"`+control+`"}`),
			wantEvent: statsig.ExperimentExposure, wantKind: statsig.KindExperiment,
			wantMeta: map[string]string{"config": experiment, "experimentGroupName": "Control", "ruleID": control},
		},
		{
			name: "a user who failed targeting is in no group: still a config exposure", specs: specs,
			body:      ev(statsig.ConfigExposure, `{"config":"bridge_button_experiment","ruleID":"targetingGate"}`),
			wantEvent: statsig.ConfigExposure, wantKind: statsig.KindConfig, wantNote: mapping.NoteNotInExperiment,
			wantMeta: map[string]string{"experimentGroupName": ""},
		},
		{
			name: "a layer parameter of a user outside the experiment's groups stays a layer exposure", specs: specs,
			body:      ev(statsig.LayerExposure, `{"config":"bridge_button_layer","ruleID":"targetingGate","allocatedExperiment":"bridge_button_experiment","isExplicitParameter":"true"}`),
			wantEvent: statsig.LayerExposure, wantKind: statsig.KindLayer, wantNote: mapping.NoteNotInExperiment,
			wantMeta: map[string]string{"experimentGroupName": "", "config": "bridge_button_layer"},
		},
		{
			name: "dynamic config stays a config exposure", specs: specs,
			body:      ev(statsig.ConfigExposure, `{"config":"bridge_pricing_config","ruleID":"4hTdachCountryRule03"}`),
			wantEvent: statsig.ConfigExposure, wantKind: statsig.KindConfig,
			wantMeta: map[string]string{"experimentGroupName": ""},
		},
		{
			name: "config unknown to the specs is reported as such", specs: specs,
			body:      ev(statsig.ConfigExposure, `{"config":"not_in_specs","ruleID":"r"}`),
			wantEvent: statsig.ConfigExposure, wantKind: statsig.KindConfig, wantNote: mapping.NoteUnknownConfig,
		},
		{
			name: "explicit layer parameter: exposure of the allocated experiment (hashed by the js-client)", specs: specs,
			body:      ev(statsig.LayerExposure, `{"config":"bridge_button_layer","ruleID":"`+test+`","allocatedExperiment":"`+hashedExp+`","parameterName":"button_color","isExplicitParameter":"true"}`),
			wantEvent: statsig.ExperimentExposure, wantKind: statsig.KindExperiment,
			wantMeta: map[string]string{"config": experiment, "allocatedExperiment": experiment, "layer": "bridge_button_layer", "experimentGroupName": "Test", "parameterName": "button_color"},
		},
		{
			name: "implicit layer parameter stays a layer exposure", specs: specs,
			body:      ev(statsig.LayerExposure, `{"config":"bridge_button_layer","ruleID":"`+test+`","allocatedExperiment":"","isExplicitParameter":"false"}`),
			wantEvent: statsig.LayerExposure, wantKind: statsig.KindLayer,
			wantMeta: map[string]string{"config": "bridge_button_layer", "experimentGroupName": "", "layer": ""},
		},
		{
			name: "webhook experiment exposure gets its group from the specs", specs: specs,
			body:      ev(statsig.ExperimentExposure, `{"config":"bridge_button_experiment","ruleID":"`+test+`"}`),
			wantEvent: statsig.ExperimentExposure, wantKind: statsig.KindExperiment,
			wantMeta: map[string]string{"experimentGroupName": "Test"},
		},
		{
			name: "a group already named is kept", specs: specs,
			body:      ev(statsig.ExperimentExposure, `{"config":"bridge_button_experiment","ruleID":"`+test+`","experimentGroupName":"Treatment A"}`),
			wantEvent: statsig.ExperimentExposure, wantKind: statsig.KindExperiment,
			wantMeta: map[string]string{"experimentGroupName": "Treatment A"},
		},
		{
			name:      "no specs, name matches the experiments globs",
			opts:      mappingconfig.Options{Experiments: []string{"*_experiment"}},
			body:      ev(statsig.ConfigExposure, `{"config":"bridge_button_experiment","ruleID":"`+control+`"}`),
			wantEvent: statsig.ExperimentExposure, wantKind: statsig.KindExperiment, wantNote: mapping.NoteNoSpecs,
			wantMeta: map[string]string{"config": experiment, "experimentGroupName": ""},
		},
		{
			name:      "no specs, name outside the experiments globs",
			opts:      mappingconfig.Options{Experiments: []string{"*_experiment"}},
			body:      ev(statsig.ConfigExposure, `{"config":"bridge_pricing_config","ruleID":"r"}`),
			wantEvent: statsig.ConfigExposure, wantKind: statsig.KindConfig, wantNote: mapping.NoteUnresolvedNoSpec,
		},
		{
			name:      "no specs and no globs: cannot tell",
			body:      ev(statsig.ConfigExposure, `{"config":"bridge_button_experiment","ruleID":"`+control+`"}`),
			wantEvent: statsig.ConfigExposure, wantKind: statsig.KindConfig, wantNote: mapping.NoteUnresolvedNoSpec,
		},
		{
			name:      "no specs, explicit layer parameter: experiment named as sent",
			body:      ev(statsig.LayerExposure, `{"config":"bridge_button_layer","ruleID":"`+test+`","allocatedExperiment":"bridge_button_experiment","isExplicitParameter":"true"}`),
			wantEvent: statsig.ExperimentExposure, wantKind: statsig.KindExperiment, wantNote: mapping.NoteNoSpecsGroupUnknown,
			wantMeta: map[string]string{"config": experiment, "layer": "bridge_button_layer", "experimentGroupName": ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, msg := mapOne(t, tt.opts, tt.specs, tt.body)
			if res.Status != mapping.Mapped {
				t.Fatalf("status %d (%s)", res.Status, res.Reason)
			}
			if msg["event"] != tt.wantEvent || res.Kind != tt.wantKind || res.Note != tt.wantNote {
				t.Fatalf("event %v kind %s note %q, want %s %s %q", msg["event"], res.Kind, res.Note, tt.wantEvent, tt.wantKind, tt.wantNote)
			}
			md, _ := get(msg, "properties", "metadata").(map[string]any)
			for k, want := range tt.wantMeta {
				got, ok := md[k]
				if want == "" {
					if ok {
						t.Errorf("metadata.%s = %v, want absent", k, got)
					}
					continue
				}
				if got != want {
					t.Errorf("metadata.%s = %v, want %q", k, got, want)
				}
			}
		})
	}
}

// Metadata is copied through as sent, whatever its whitespace, and the
// group is added to it as valid JSON.
func TestMapExperimentGroupAddedToAnyMetadataLayout(t *testing.T) {
	specs := loadSpecs(t, "js-client")
	for _, md := range []string{
		`{"config":"bridge_button_experiment","ruleID":"5yQbPMfmKQdiRV35hS3B2l"}`,
		`{ "config" : "bridge_button_experiment" , "ruleID" : "5yQbPMfmKQdiRV35hS3B2l" }`,
		"{\n  \"config\": \"bridge_button_experiment\",\n  \"ruleID\": \"5yQbPMfmKQdiRV35hS3B2l\"\n}",
		"{\"ruleID\":\"5yQbPMfmKQdiRV35hS3B2l\",\"config\":\"bridge_button_experiment\",\"note\":\"}\\\" tricky {\"}",
	} {
		res, msg := mapOne(t, mappingconfig.Options{}, specs, events(`{"eventName":"statsig::config_exposure","user":{"userID":"u"},"metadata":`+md+`}`))
		if res.Status != mapping.Mapped {
			t.Fatalf("%s: status %d", md, res.Status)
		}
		if g := get(msg, "properties", "metadata", "experimentGroupName"); g != "Control" {
			t.Errorf("%s: experimentGroupName = %v", md, g)
		}
		if c := get(msg, "properties", "metadata", "config"); c != "bridge_button_experiment" {
			t.Errorf("%s: config = %v", md, c)
		}
	}
}

func TestMapMessageShape(t *testing.T) {
	body := `{"events":[{"eventName":"add_to_cart","user":{"userID":"u","locale":"de-DE","statsigEnvironment":{"tier":"staging"}},"value":29.99,"metadata":{"sku":"SKU-1"},"time":1699999999000}],"statsigMetadata":{"sdkType":"js","sdkVersion":"1.0"}}`
	res, msg := mapOne(t, mappingconfig.Options{}, nil, body)
	if res.Status != mapping.Mapped {
		t.Fatalf("status %d (%s)", res.Status, res.Reason)
	}
	want := map[string]any{
		"type":              "track",
		"event":             "add_to_cart",
		"userId":            "u",
		"originalTimestamp": "2023-11-14T22:13:19.000Z",
		// 150 ms transit: receivedAt − (clientTime − eventTime)
		"timestamp": "2023-11-14T22:13:19.150Z",
	}
	for k, v := range want {
		if msg[k] != v {
			t.Errorf("%s = %#v, want %#v", k, msg[k], v)
		}
	}
	if id, _ := msg["messageId"].(string); len(id) != 36 {
		t.Errorf("messageId = %q, want a UUID", id)
	}
	checks := map[string]any{
		"properties/value":                 29.99,
		"properties/metadata/sku":          "SKU-1",
		"context/library/name":             "statsig-bridge",
		"context/library/version":          "test",
		"context/integration/name":         "statsig",
		"context/integration/version":      "1.0.0", // Segment check 16's partner value
		"context/locale":                   "de-DE",
		"context/statsig/source":           "sdk",
		"context/statsig/sdkType":          "js",
		"context/statsig/sdkVersion":       "1.0",
		"context/statsig/environment/tier": "staging",
	}
	for path, want := range checks {
		if got := get(msg, strings.Split(path, "/")...); got != want {
			t.Errorf("%s = %#v, want %#v", path, got, want)
		}
	}
	// An event with neither value nor metadata still has an object.
	_, msg = mapOne(t, mappingconfig.Options{}, nil, events(`{"eventName":"e","user":{"userID":"u"}}`))
	if p, ok := msg["properties"].(map[string]any); !ok || len(p) != 0 {
		t.Errorf("properties = %#v, want {}", msg["properties"])
	}
}

// The same event always maps to the same bytes: replays are deduplicated
// downstream only if nothing in the message depends on when it was mapped.
func TestMapIsDeterministic(t *testing.T) {
	specs := loadSpecs(t, "js-client")
	body := []byte(events(`{"eventName":"statsig::layer_exposure","user":{"userID":"u","custom":{"a":1}},"metadata":{"config":"bridge_button_layer","ruleID":"5yQbPMfmKQdiRV35hS3B2m","allocatedExperiment":"3779793908","isExplicitParameter":"true","parameterName":"p","b":"1","a":"2"},"time":1699999999000}`))
	var first []byte
	for i := 0; i < 20; i++ {
		b, _, err := statsig.DecodeRequest(body, statsig.RequestInfo{ReceivedAt: time.UnixMilli(1_700_000_000_150), ClientTime: 1_700_000_000_000, SDKKey: "k"})
		if err != nil {
			t.Fatal(err)
		}
		m := mapping.New(mappingconfig.Options{}, func() *statsig.Specs { return specs }, testLib)
		res := m.Map(b, &b.Events[0])
		got := res.Track.AppendJSON(nil)
		if first == nil {
			first = got
		} else if string(got) != string(first) {
			t.Fatalf("mapping %d differs:\n%s\n%s", i, first, got)
		}
	}
}

// TestMapOmitsEmptyStrings (Segment conformance check 9): Segment drops
// events with some empty strings (context.groupId ""), so a field the
// bridge writes into the message is left out rather than sent as "".
// Every user field here is empty, every option that copies one is on, and
// properties and context stay objects.
func TestMapOmitsEmptyStrings(t *testing.T) {
	for _, email := range []string{mappingconfig.EmailTrait, mappingconfig.EmailHash} {
		opts := mappingconfig.Options{Email: email, IPAndUserAgent: true, UserTraits: true}
		_, msg := mapOne(t, opts, nil, `{"events":[{"eventName":"e","user":{"userID":"u","email":"","ip":"","userAgent":"",
			"country":"","locale":"","appVersion":"","customIDs":{"stableID":""}}}],"statsigMetadata":{"sdkType":"","sdkVersion":"","stableID":""}}`)
		for _, k := range []string{"properties", "context"} {
			if _, ok := msg[k].(map[string]any); !ok {
				t.Errorf("email %s: %s = %#v, want an object", email, k, msg[k])
			}
		}
		var walk func(path string, v any)
		walk = func(path string, v any) {
			switch v := v.(type) {
			case string:
				if v == "" {
					t.Errorf("email %s: %s is an empty string", email, path)
				}
			case map[string]any:
				for k, c := range v {
					walk(path+"."+k, c)
				}
			}
		}
		walk("message", msg)
		if _, ok := msg["anonymousId"]; ok {
			t.Errorf("email %s: anonymousId %#v sent for an empty stableID", email, msg["anonymousId"])
		}
	}
}
