package mapping_test

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// sentMessage is the part of a Track message these tests read.
type sentMessage struct {
	Event             string `json:"event"`
	UserID            string `json:"userId"`
	AnonymousID       string `json:"anonymousId"`
	MessageID         string `json:"messageId"`
	Timestamp         string `json:"timestamp"`
	OriginalTimestamp string `json:"originalTimestamp"`
	Properties        struct {
		Metadata map[string]any `json:"metadata"`
	} `json:"properties"`
}

func decodeMessage(t *testing.T, raw []byte) sentMessage {
	t.Helper()
	var m sentMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("message is not valid JSON: %v\n%s", err, raw)
	}
	return m
}

// exposureKey is one user's assignment as the Segment messages report it.
type exposureKey struct {
	UserID, Experiment, Group string
}

func (k exposureKey) String() string {
	g := k.Group
	if g == "" {
		g = "(no group)"
	}
	return k.UserID + " → " + k.Experiment + ": " + g
}

// The go-sdk-layers, js-client and node-core captures evaluated one project
// for the same users, and every SDK put each user in the same group: the
// experiment exposures the bridge sends must say so, whichever SDK sent them
// (the js-client's djb2-hashed allocatedExperiment resolved by the specs).
func TestFixturesAgreeOnExperimentGroupsAcrossSDKs(t *testing.T) {
	sets := map[string]map[exposureKey]bool{}
	for _, f := range mapFixtures(t) {
		switch f.Req.Folder {
		case "go-sdk-layers", "js-client", "node-core":
		default:
			continue
		}
		if sets[f.Req.Folder] == nil {
			sets[f.Req.Folder] = map[exposureKey]bool{}
		}
		for _, me := range f.Events {
			if me.Result.Status != mapping.Mapped || me.Result.Track.Event != statsig.ExperimentExposure {
				continue
			}
			m := decodeMessage(t, me.JSON)
			exp, _ := m.Properties.Metadata["config"].(string)
			group, _ := m.Properties.Metadata["experimentGroupName"].(string)
			if exp == "" || isDigits(exp) {
				t.Errorf("%s/%s: experiment exposure names no resolved experiment: %v", f.Req.Folder, f.Req.Name, m.Properties.Metadata)
			}
			if alloc, ok := m.Properties.Metadata["allocatedExperiment"].(string); ok && alloc != exp {
				t.Errorf("%s/%s: allocatedExperiment %q is not the experiment %q", f.Req.Folder, f.Req.Name, alloc, exp)
			}
			if m.UserID == "" {
				continue // compared by Statsig unit below
			}
			sets[f.Req.Folder][exposureKey{m.UserID, exp, group}] = true
		}
	}
	goSet, nodeSet, jsSet := sets["go-sdk-layers"], sets["node-core"], sets["js-client"]
	if len(goSet) == 0 || len(nodeSet) == 0 || len(jsSet) == 0 {
		t.Fatalf("no experiment exposures with a userId: go %d, node-core %d, js-client %d", len(goSet), len(nodeSet), len(jsSet))
	}
	// A user in two groups of one experiment would be a resolution bug.
	for sdk, set := range sets {
		groups := map[string]string{}
		for k := range set {
			id := k.UserID + "/" + k.Experiment
			if g, ok := groups[id]; ok && g != k.Group {
				t.Errorf("%s: %s reported in groups %q and %q", sdk, id, g, k.Group)
			}
			groups[id] = k.Group
		}
	}
	if d := setDiff(goSet, nodeSet); d != "" {
		t.Errorf("go-sdk-layers and node-core disagree:\n%s", d)
	}
	// The js-client capture covers fewer users; each must agree with the
	// server SDKs.
	for k := range jsSet {
		if !goSet[k] || !nodeSet[k] {
			t.Errorf("js-client reports %s; go-sdk-layers has it: %v, node-core: %v", k, goSet[k], nodeSet[k])
		}
	}
	var inGroup int
	for k := range goSet {
		if k.Group != "" {
			inGroup++
		}
	}
	if inGroup == 0 {
		t.Fatal("no experiment exposure carries experimentGroupName: resolution from the specs did nothing")
	}
	t.Logf("go-sdk-layers %d, node-core %d, js-client %d (user, experiment, group) triples; %d of the server SDKs' in a group",
		len(goSet), len(nodeSet), len(jsSet), inGroup)
}

// Users without a userID are compared by their Statsig unit (customIDs):
// the same group everywhere, and each SDK's messages identified the way the
// default mapping promises (stableID → anonymousId; no ID at all → dead
// letter no_user_anon_id, never a silent drop).
func TestFixturesUsersWithoutUserIDAcrossSDKs(t *testing.T) {
	groups := map[string]map[string]string{} // sdk → unit → group
	for _, f := range mapFixtures(t) {
		switch f.Req.Folder {
		case "go-sdk-layers", "js-client", "node-core":
		default:
			continue
		}
		if groups[f.Req.Folder] == nil {
			groups[f.Req.Folder] = map[string]string{}
		}
		for _, me := range f.Events {
			u := me.Event.User
			if (u != nil && u.UserID != "") || me.JSON == nil {
				continue
			}
			m := decodeMessage(t, me.JSON)
			if stable := f.Batch.StableIDOf(me.Event); stable != "" {
				if me.Result.Status != mapping.Mapped || m.UserID != "" || m.AnonymousID != stable {
					t.Errorf("%s/%s %s: status %d, userId %q, anonymousId %q; want sent with anonymousId %q",
						f.Req.Folder, f.Req.Name, m.Event, me.Result.Status, m.UserID, m.AnonymousID, stable)
				}
			} else if me.Result.Status != mapping.Invalid || me.Result.Reason != "no_user_anon_id" {
				t.Errorf("%s/%s %s: a user without any ID gave status %d (%s), want a no_user_anon_id dead letter",
					f.Req.Folder, f.Req.Name, m.Event, me.Result.Status, me.Result.Reason)
			}
			if me.Result.Track.Event != statsig.ExperimentExposure {
				continue
			}
			group, _ := m.Properties.Metadata["experimentGroupName"].(string)
			unit := unitOf(u)
			exp, _ := m.Properties.Metadata["config"].(string)
			key := unit + "/" + exp
			if g, ok := groups[f.Req.Folder][key]; ok && g != group {
				t.Errorf("%s: %s in groups %q and %q", f.Req.Folder, key, g, group)
			}
			groups[f.Req.Folder][key] = group
		}
	}
	for _, sdk := range []string{"js-client", "node-core"} {
		for unit, g := range groups[sdk] {
			if want, ok := groups["go-sdk-layers"][unit]; !ok || want != g {
				t.Errorf("%s puts %s in %q; go-sdk-layers in %q (present: %v)", sdk, unit, g, want, ok)
			}
		}
	}
	if len(groups["go-sdk-layers"]) == 0 || len(groups["js-client"]) == 0 {
		t.Fatalf("fixtures lost their users without userID: %v", groups)
	}
	t.Logf("units without userID: %v", groups)
}

// unitOf names a user without a userID by its own custom IDs.
func unitOf(u *statsig.User) string {
	if u == nil || len(u.CustomIDs) == 0 {
		return "(no unit)"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(u.CustomIDs)) {
		parts = append(parts, k+"="+string(u.CustomIDs[k]))
	}
	return strings.Join(parts, ",")
}

func TestFixturesDropSDKInternalEvents(t *testing.T) {
	seen := map[string]int{}
	for _, f := range mapFixtures(t) {
		for _, me := range f.Events {
			name := me.Event.EventName
			if name == "statsig::diagnostics" || name == "statsig::non_exposed_checks" {
				seen[name]++
				if me.Result.Status != mapping.Filtered {
					t.Errorf("%s/%s: %s was not filtered: %s", f.Req.Folder, f.Req.Name, name, me.JSON)
				}
			}
			if me.Result.Status == mapping.Mapped && strings.HasPrefix(me.Result.Track.Event, "statsig::") &&
				statsig.KindOf(me.Result.Track.Event) == statsig.KindInternal {
				t.Errorf("%s/%s: internal event %s sent", f.Req.Folder, f.Req.Name, me.Result.Track.Event)
			}
		}
	}
	if seen["statsig::diagnostics"] == 0 || seen["statsig::non_exposed_checks"] == 0 {
		t.Fatalf("fixtures hold no diagnostics or non_exposed_checks events to test with: %v", seen)
	}
}

// A user known only by a stableID is anonymous in Segment: anonymousId is
// the stableID, and there is no userId (Go sends such a user as userID "").
func TestFixturesStableIDOnlyUsersAreAnonymous(t *testing.T) {
	n := 0
	for _, f := range mapFixtures(t) {
		for _, me := range f.Events {
			u := me.Event.User
			if u == nil || u.UserID != "" || u.StableID() == "" || me.JSON == nil {
				continue
			}
			n++
			m := decodeMessage(t, me.JSON)
			if m.UserID != "" || m.AnonymousID != u.StableID() {
				t.Errorf("%s/%s %s: userId %q anonymousId %q, want only anonymousId %q",
					f.Req.Folder, f.Req.Name, me.Event.EventName, m.UserID, m.AnonymousID, u.StableID())
			}
			if me.Result.Status != mapping.Mapped {
				t.Errorf("%s/%s: stableID-only event not sent: %s", f.Req.Folder, f.Req.Name, me.Result.Reason)
			}
		}
	}
	if n == 0 {
		t.Fatal("no stableID-only user in the fixtures")
	}
}

// The js-client sends its stableID once per request, in statsigMetadata;
// every event of the request without a stableID of its own must carry it as
// anonymousId (in rgstr-2, across a user switch, the later user's).
func TestFixturesJSClientEventsGetRequestStableID(t *testing.T) {
	n := 0
	for _, f := range mapFixtures(t) {
		if f.Req.Folder != "js-client" {
			continue
		}
		var env struct {
			StatsigMetadata struct {
				StableID string `json:"stableID"`
			} `json:"statsigMetadata"`
		}
		if err := json.Unmarshal(f.Req.Body(t), &env); err != nil || env.StatsigMetadata.StableID == "" {
			t.Fatalf("%s: no request-level stableID (%v)", f.Req.Name, err)
		}
		for _, me := range f.Events {
			if me.JSON == nil {
				continue
			}
			want := me.Event.User.StableID() // the caller's customIDs.stableID
			if want == "" {
				n++
				want = env.StatsigMetadata.StableID
			}
			m := decodeMessage(t, me.JSON)
			if m.AnonymousID != want {
				t.Errorf("%s %s: anonymousId %q, want %q", f.Req.Name, m.Event, m.AnonymousID, want)
			}
			if me.Result.Status != mapping.Mapped {
				t.Errorf("%s %s: not sent: %s", f.Req.Name, m.Event, me.Result.Reason)
			}
		}
	}
	if n == 0 {
		t.Fatal("no js-client event without a stableID of its own")
	}
}

// Event times: originalTimestamp is the client's time for the event (the
// request's client time when the event has none, as Go's LogImmediate sends
// time 0) and timestamp corrects it by the request's transit, here the fixed
// receiveDelay. The webhook has no client clock: both are the event time.
func TestFixturesEventTimes(t *testing.T) {
	zeroTime := 0
	for _, f := range mapFixtures(t) {
		for _, me := range f.Events {
			if me.JSON == nil {
				continue
			}
			m := decodeMessage(t, me.JSON)
			orig, err1 := time.Parse(time.RFC3339Nano, m.OriginalTimestamp)
			ts, err2 := time.Parse(time.RFC3339Nano, m.Timestamp)
			if err1 != nil || err2 != nil {
				t.Fatalf("%s/%s: bad timestamps %q %q", f.Req.Folder, f.Req.Name, m.OriginalTimestamp, m.Timestamp)
			}
			wantOrig := time.UnixMilli(me.Event.Time)
			wantSkew := receiveDelay
			if f.Req.IsWebhook() {
				wantSkew = 0
			} else if me.Event.Time == 0 {
				zeroTime++
				wantOrig = time.UnixMilli(f.Req.ClientTime(t))
			}
			if !orig.Equal(wantOrig) {
				t.Errorf("%s/%s %s: originalTimestamp %s, want %s", f.Req.Folder, f.Req.Name, m.Event, orig, wantOrig.UTC())
			}
			if ts.Sub(orig) != wantSkew {
				t.Errorf("%s/%s %s: timestamp − originalTimestamp = %s, want %s", f.Req.Folder, f.Req.Name, m.Event, ts.Sub(orig), wantSkew)
			}
		}
	}
	if zeroTime == 0 {
		t.Fatal("no event with time 0 (Go LogImmediate) in the fixtures")
	}
}

func TestFixturesMessagesAreCleanAndUnique(t *testing.T) {
	for _, f := range mapFixtures(t) {
		ids := map[string]string{}
		for _, me := range f.Events {
			if me.JSON == nil {
				continue
			}
			if bytes.Contains(me.JSON, []byte("privateAttributes")) {
				t.Errorf("%s/%s: message carries privateAttributes: %s", f.Req.Folder, f.Req.Name, me.JSON)
			}
			m := decodeMessage(t, me.JSON)
			if prev, dup := ids[m.MessageID]; dup {
				t.Errorf("%s/%s: messageId %s used by %s and %s", f.Req.Folder, f.Req.Name, m.MessageID, prev, m.Event)
			}
			ids[m.MessageID] = m.Event
		}
		if len(ids) == 0 {
			t.Errorf("%s/%s: no message", f.Req.Folder, f.Req.Name)
		}
	}
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

func setDiff(a, b map[exposureKey]bool) string {
	var out []string
	for k := range a {
		if !b[k] {
			out = append(out, "  only in first:  "+k.String())
		}
	}
	for k := range b {
		if !a[k] {
			out = append(out, "  only in second: "+k.String())
		}
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}
