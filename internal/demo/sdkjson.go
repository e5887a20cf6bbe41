package demo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// SDK identities, as the captured SDKs report them (see testdata/fixtures).
const (
	goSDKVersion     = "v1.35.1"
	goLanguage       = "1.26.8"
	jsSDKType        = "javascript-client"
	jsSDKVersion     = "3.33.5"
	nodeSDKType      = "statsig-server-core-node"
	nodeSDKVersion   = "0.23.2"
	nodeLanguage     = "20.20.2"
	environmentTier  = "production"
	browserUserAgent = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)

// obj is a JSON object whose members keep their order, as each SDK's
// serialiser writes them.
type obj []field

// MarshalJSON writes the members in order.
func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.K)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(f.V)
		if err != nil {
			return nil, fmt.Errorf("member %s: %w", f.K, err)
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func env() obj { return obj{{"tier", environmentTier}} }

func ms(t int64) string { return strconv.FormatInt(t, 10) }

// stringify writes a value as the Go SDK must: its API takes strings only.
func stringify(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case int:
		return strconv.Itoa(v)
	case bool:
		return strconv.FormatBool(v)
	}
	return fmt.Sprint(v)
}

func secondaries(sec []secondary, hashNames bool) []obj {
	out := make([]obj, 0, len(sec))
	for _, s := range sec {
		name := s.Gate
		if hashNames {
			name = statsig.DJB2(name)
		}
		out = append(out, obj{{"gate", name}, {"gateValue", strconv.FormatBool(s.Value)}, {"ruleID", s.RuleID}})
	}
	return out
}

// --- Go server SDK v1.35.1 ---

// goUser is statsig.User as the Go SDK marshals it: userID always ("" when
// unknown), customIDs always (null when none), the rest when set. The app
// passes the visitor's stableID cookie as a custom ID.
func goUser(u *user) obj {
	o := obj{{"userID", u.UserID}}
	if u.Email != "" {
		o = append(o, field{"email", u.Email})
	}
	if u.Country != "" {
		o = append(o, field{"country", u.Country}, field{"locale", u.Locale})
	}
	if u.Plan != "" {
		custom := map[string]any{"plan": u.Plan}
		if u.Seats > 0 {
			custom["seats"] = u.Seats
		}
		o = append(o, field{"custom", custom})
	}
	ids := map[string]string{"stableID": u.StableID}
	if u.CompanyID != "" {
		ids["companyID"] = u.CompanyID
	}
	return append(o, field{"statsigEnvironment", env()}, field{"customIDs", ids})
}

// goEvent writes one event as the Go SDK does: value always a string,
// metadata a map of strings (sorted keys) or null.
func goEvent(e *event, initTime int64) obj {
	if x := e.Exposure; x != nil {
		md := map[string]string{
			"ruleID": x.RuleID, "reason": "Network", "configVersion": strconv.Itoa(versions[x.Name]),
			"configSyncTime": ms(specsTime), "initTime": ms(initTime), "serverTime": ms(e.Time),
		}
		switch x.Kind {
		case "gate":
			md["gate"], md["gateValue"] = x.Name, strconv.FormatBool(x.GateValue)
		case "config":
			md["config"], md["rulePassed"] = x.Name, strconv.FormatBool(x.RulePassed)
		case "layer":
			md["config"], md["allocatedExperiment"], md["parameterName"] = x.Name, x.Allocated, x.Param
			md["isExplicitParameter"] = strconv.FormatBool(x.Explicit)
			md["configVersion"] = strconv.Itoa(versions[expCheckout]) // the delegated experiment's
		}
		return obj{{"eventName", e.Name}, {"user", goUser(e.User)}, {"value", ""}, {"metadata", md},
			{"secondaryExposures", secondaries(x.Secondary, false)}, {"time", e.Time}, {"statsigMetadata", nil}}
	}
	var md map[string]string
	if len(e.Metadata) > 0 {
		md = make(map[string]string, len(e.Metadata))
		for _, f := range e.Metadata {
			md[f.K] = stringify(f.V)
		}
	}
	return obj{{"eventName", e.Name}, {"user", goUser(e.User)}, {"value", stringify(e.Value)}, {"metadata", md}, {"time", e.Time}}
}

// goBody is a Go SDK /v1/log_event body.
func goBody(events []event, sessionID string, initTime int64) ([]byte, error) {
	out := make([]obj, len(events))
	for i := range events {
		out[i] = goEvent(&events[i], initTime)
	}
	return json.Marshal(obj{{"events", out}, {"statsigMetadata", obj{
		{"sdkType", "go-sdk"}, {"sdkVersion", goSDKVersion}, {"languageVersion", goLanguage}, {"sessionID", sessionID}}}})
}

// --- @statsig/js-client 3.33.5 ---

// jsUser is the user the web app gave the client; the stableID travels in
// the request's statsigMetadata, not here.
func jsUser(u *user) obj {
	var o obj
	if u.UserID != "" {
		o = append(o, field{"userID", u.UserID})
	}
	if u.Email != "" {
		o = append(o, field{"email", u.Email})
	}
	if u.Country != "" {
		o = append(o, field{"country", u.Country}, field{"locale", u.Locale})
	}
	if u.CompanyID != "" {
		o = append(o, field{"customIDs", obj{{"companyID", u.CompanyID}}})
	}
	if u.Plan != "" {
		o = append(o, field{"custom", obj{{"plan", u.Plan}}})
	}
	return append(o, field{"statsigEnvironment", env()})
}

// jsEvent writes one event as the js-client does: value null on exposures
// and left out when unset, names the app did not ask for as djb2 hashes,
// the page in statsigMetadata.currentPage.
func jsEvent(e *event, initTime int64) obj {
	page := obj{{"currentPage", e.Page}}
	switch x := e.Exposure; {
	case e.Diagnostics:
		md := obj{{"context", "initialize"}, {"markers", []obj{
			{{"key", "overall"}, {"action", "start"}, {"timestamp", e.Time - 70}},
			{{"key", "initialize"}, {"action", "start"}, {"step", "network_request"}, {"timestamp", e.Time - 64}, {"attempt", 1}},
			{{"key", "initialize"}, {"action", "end"}, {"step", "network_request"}, {"timestamp", e.Time - 6}, {"success", true}, {"statusCode", 200}, {"sdkRegion", nil}, {"attempt", 1}},
			{{"key", "overall"}, {"action", "end"}, {"timestamp", e.Time - 1}, {"success", true},
				{"evaluationDetails", obj{{"reason", "Network"}, {"lcut", specsTime}, {"receivedAt", e.Time - 6}}}},
		}}, {"statsigOptions", obj{{"environment", env()}, {"loggingEnabled", "always"}, {"logEventCompressionMode", "e"}}}}
		return obj{{"eventName", e.Name}, {"user", jsUser(e.User)}, {"value", nil}, {"metadata", md}, {"time", e.Time}, {"statsigMetadata", page}}
	case x != nil:
		var md obj
		switch x.Kind {
		case "gate":
			md = obj{{"gate", x.Name}, {"gateValue", strconv.FormatBool(x.GateValue)}, {"ruleID", x.RuleID}}
		case "config":
			md = obj{{"config", x.Name}, {"ruleID", x.RuleID}}
			if !x.Experiment {
				md = append(md, field{"rulePassed", strconv.FormatBool(x.RulePassed)})
			}
		case "layer":
			alloc := ""
			if x.Allocated != "" {
				alloc = statsig.DJB2(x.Allocated)
			}
			md = obj{{"config", x.Name}, {"parameterName", x.Param}, {"ruleID", x.RuleID}, {"allocatedExperiment", alloc},
				{"isExplicitParameter", strconv.FormatBool(x.Explicit)}}
		}
		md = append(md, field{"reason", "Network:Recognized"}, field{"lcut", ms(specsTime)}, field{"receivedAt", ms(initTime)})
		return obj{{"eventName", e.Name}, {"user", jsUser(e.User)}, {"value", nil}, {"metadata", md},
			{"secondaryExposures", secondaries(x.Secondary, true)}, {"time", e.Time}, {"statsigMetadata", page}}
	}
	o := obj{{"eventName", e.Name}}
	if e.Value != nil {
		o = append(o, field{"value", e.Value})
	}
	if len(e.Metadata) > 0 {
		o = append(o, field{"metadata", obj(e.Metadata)})
	}
	return append(o, field{"user", jsUser(e.User)}, field{"time", e.Time}, field{"statsigMetadata", page})
}

// jsBody is a js-client /v1/rgstr body for one browser.
func jsBody(events []event, stableID, sessionID string, initTime int64) ([]byte, error) {
	out := make([]obj, len(events))
	for i := range events {
		out[i] = jsEvent(&events[i], initTime)
	}
	return json.Marshal(obj{{"events", out}, {"statsigMetadata", obj{
		{"sdkType", jsSDKType}, {"sdkVersion", jsSDKVersion}, {"stableID", stableID}, {"sessionID", sessionID}, {"fallbackUrl", nil}}}})
}

// --- @statsig/statsig-node-core 0.23.2 ---

// nodeUser is the user as the Rust core writes it: whole numbers inside
// custom as floats (12.0), missing fields left out.
func nodeUser(u *user) obj {
	var o obj
	if u.UserID != "" {
		o = append(o, field{"userID", u.UserID})
	}
	ids := obj{}
	if u.CompanyID != "" {
		ids = append(ids, field{"companyID", u.CompanyID})
	}
	o = append(o, field{"customIDs", append(ids, field{"stableID", u.StableID})})
	if u.Email != "" {
		o = append(o, field{"email", u.Email})
	}
	if u.Country != "" {
		o = append(o, field{"country", u.Country}, field{"locale", u.Locale})
	}
	if u.Plan != "" {
		custom := obj{{"plan", u.Plan}}
		if u.Seats > 0 {
			custom = append(custom, field{"seats", json.RawMessage(strconv.Itoa(u.Seats) + ".0")})
		}
		o = append(o, field{"custom", custom})
	}
	return append(o, field{"statsigEnvironment", env()})
}

// nodeEvent writes one event as the Rust core does: value and metadata
// null when unset, statsigMetadata {} on exposures and null otherwise.
func nodeEvent(e *event, initTime int64) obj {
	switch x := e.Exposure; {
	case e.Diagnostics:
		markers := fmt.Sprintf(`[{"key":"overall","action":"start","timestamp":%d},{"key":"download_config_specs","action":"end","timestamp":%d,"attempt":0,"statusCode":200,"step":"network_request","success":true},{"key":"overall","action":"end","timestamp":%d,"success":true,"configSpecReady":true,"source":"Network"}]`,
			e.Time-8, e.Time-2, e.Time)
		return obj{{"eventName", e.Name}, {"value", nil}, {"metadata", obj{{"markers", markers}, {"context", "initialize"}}},
			{"statsigMetadata", nil}, {"user", obj{}}, {"time", e.Time}, {"secondaryExposures", nil}}
	case x != nil:
		md := obj{{"reason", "Network:Recognized"}, {"ruleID", x.RuleID}}
		version := versions[x.Name]
		switch x.Kind {
		case "gate":
			md = append(md, field{"gate", x.Name}, field{"gateValue", strconv.FormatBool(x.GateValue)})
		case "config":
			md = append(md, field{"config", x.Name}, field{"rulePassed", strconv.FormatBool(x.RulePassed)})
		case "layer":
			md = append(md, field{"config", x.Name}, field{"parameterName", x.Param}, field{"allocatedExperiment", x.Allocated},
				field{"isExplicitParameter", strconv.FormatBool(x.Explicit)})
		}
		md = append(md, field{"configVersion", strconv.Itoa(version)}, field{"lcut", ms(specsTime)}, field{"receivedAt", ms(initTime)})
		return obj{{"eventName", e.Name}, {"value", nil}, {"metadata", md}, {"statsigMetadata", obj{}},
			{"user", nodeUser(e.User)}, {"time", e.Time}, {"secondaryExposures", secondaries(x.Secondary, false)}}
	}
	var md any
	if len(e.Metadata) > 0 {
		md = obj(e.Metadata)
	}
	return obj{{"eventName", e.Name}, {"value", e.Value}, {"metadata", md}, {"statsigMetadata", nil},
		{"user", nodeUser(e.User)}, {"time", e.Time}, {"secondaryExposures", nil}}
}

// nodeBody is a node-core /v1/log_event body.
func nodeBody(events []event, sessionID, flushType string, initTime int64) ([]byte, error) {
	out := make([]obj, len(events))
	for i := range events {
		out[i] = nodeEvent(&events[i], initTime)
	}
	return json.Marshal(obj{{"events", out}, {"statsigMetadata", obj{
		{"sdkType", nodeSDKType}, {"sdkVersion", nodeSDKVersion}, {"sessionID", sessionID}, {"os", "linux"}, {"arch", "x86_64"},
		{"languageVersion", nodeLanguage}, {"flushingIntervalMs", 1000}, {"batchSize", 2000}, {"maxPendingBatches", 100},
		{"flushType", flushType}}}})
}
