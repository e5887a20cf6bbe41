package statsig

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestDJB2MatchesJSClientHashes(t *testing.T) {
	// From js-client/rgstr-1: allocatedExperiment and the secondary gate.
	for name, want := range map[string]string{
		"bridge_button_experiment": "3779793908",
		"bridge_checkout_gate":     "4192085486",
	} {
		if got := DJB2(name); got != want {
			t.Errorf("DJB2(%q) = %s, want %s", name, got, want)
		}
	}
}

func TestSignatureTestVector(t *testing.T) {
	body := []byte(`{"data":[{"eventName":"statsig::gate_exposure","userID":"u1"}]}`)
	got := Sign([]byte("whsec-statsig-bridge-test-0001"), "1700000000000", body)
	want := "v0=d51e68db60dda6ae32778380ae5f518f21ca7a403b12efd185991c5ab2a44d37"
	if got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	now := time.UnixMilli(1700000000000).Add(4 * time.Minute)
	if err := VerifySignature([]byte("whsec-statsig-bridge-test-0001"), "1700000000000", want, body, now, 5*time.Minute); err != nil {
		t.Fatalf("valid signature refused: %v", err)
	}
	if err := VerifySignature([]byte("whsec-statsig-bridge-test-0001"), "1700000000000", want, body, now.Add(2*time.Minute), 5*time.Minute); err == nil {
		t.Fatal("stale timestamp accepted")
	}
	if err := VerifySignature([]byte("other"), "1700000000000", want, body, now, 5*time.Minute); err == nil {
		t.Fatal("wrong secret accepted")
	}
}

func TestDecodeKeepsValidEventsAndRejectsBadOnes(t *testing.T) {
	body := []byte(`{"events":[{"eventName":"a","time":1700000000000,"user":{"userID":42,"privateAttributes":{"ssn":"x"}}},{"value":1},{"eventName":7},"x",{"eventName":"b","time":"2024-01-02T03:04:05.123Z"},{"eventName":"c","time":"soon"}],"statsigMetadata":{"stableID":"s-1","sdkType":"t"}}`)
	b, rej, err := DecodeRequest(body, RequestInfo{ReceivedAt: time.Now(), SDKKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Events) != 2 || b.Events[0].EventName != "a" || b.Events[1].EventName != "b" {
		t.Fatalf("events = %+v", b.Events)
	}
	if b.Events[0].User.UserID != "42" {
		t.Errorf("numeric userID = %q, want \"42\"", b.Events[0].User.UserID)
	}
	if b.Events[1].Time != time.Date(2024, 1, 2, 3, 4, 5, 123e6, time.UTC).UnixMilli() {
		t.Errorf("ISO time = %d", b.Events[1].Time)
	}
	wantReasons := []string{ReasonNameMissing, ReasonNameNotString, ReasonNotObject, ReasonInvalidTime}
	if len(rej) != len(wantReasons) {
		t.Fatalf("rejections = %+v", rej)
	}
	for i, r := range rej {
		if r.Reason != wantReasons[i] {
			t.Errorf("rejection %d = %+v, want %s", i, r, wantReasons[i])
		}
	}
	if b.StableIDOf(&b.Events[0]) != "s-1" {
		t.Errorf("request-level stableID not applied")
	}
}

func TestEventIDsAreStableAcrossResends(t *testing.T) {
	a := []byte(`{"events":[{"eventName":"x","time":5,"metadata":{"a":"1","b":"2"}},{"eventName":"x","time":5,"metadata":{"a":"1","b":"2"}}]}`)
	b := []byte(`{"statsigMetadata":{"flushType":"retry"},"events":[{"metadata":{"b":"2","a":"1"},"time":5,"eventName":"x"},{"eventName":"x","time":5,"metadata":{"a":"1","b":"2"}}]}`)
	ba, _, _ := DecodeRequest(a, RequestInfo{SDKKey: "k"})
	bb, _, _ := DecodeRequest(b, RequestInfo{SDKKey: "k"})
	if ba.Events[0].ID != bb.Events[0].ID || ba.Events[1].ID != bb.Events[1].ID {
		t.Fatalf("resend changed IDs: %s %s vs %s %s", ba.Events[0].ID, ba.Events[1].ID, bb.Events[0].ID, bb.Events[1].ID)
	}
	if ba.Events[0].ID == ba.Events[1].ID {
		t.Fatal("two identical events in one request share an ID")
	}
	other, _, _ := DecodeRequest(a, RequestInfo{SDKKey: "other"})
	if other.Events[0].ID == ba.Events[0].ID {
		t.Fatal("different SDK keys gave the same ID")
	}
}

func TestEventTimeCorrectsClockSkew(t *testing.T) {
	b := &Batch{ReceivedAt: 10_000, ClientTime: 13_000}
	orig, corr := b.EventTime(&Event{Time: 12_000})
	if orig != 12_000 || corr != 9_000 {
		t.Fatalf("got %d %d", orig, corr)
	}
	orig, corr = b.EventTime(&Event{})
	if orig != 13_000 || corr != 10_000 {
		t.Fatalf("time 0: got %d %d", orig, corr)
	}
}

func TestSpecsFromFixtures(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "fixtures", "go-sdk-layers", "download_config_specs.json"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSpecs(raw)
	if err != nil {
		t.Fatal(err)
	}
	exp := s.Config("3779793908")
	if exp == nil || exp.Name != "bridge_button_experiment" || !exp.IsExperiment() || exp.Layer != "bridge_button_layer" {
		t.Fatalf("experiment by hash: %+v", exp)
	}
	if g := exp.Rules["5yQbPMfmKQdiRV35hS3B2m"]; g.GroupName != "Test" || !g.IsExperimentGroup {
		t.Fatalf("rule: %+v", g)
	}
	if s.Resolve("4192085486") != "bridge_checkout_gate" {
		t.Fatal("gate hash not resolved")
	}
}

func TestWebhookFixturesDecode(t *testing.T) {
	for _, f := range []string{"batch-1.body", "batch-2.body"} {
		raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "fixtures", "webhook", f))
		if err != nil {
			t.Fatal(err)
		}
		b, rej, err := DecodeWebhook(raw, time.Now(), 0)
		if err != nil || len(rej) != 0 || len(b.Events) == 0 {
			t.Fatalf("%s: %v %v %d", f, err, rej, len(b.Events))
		}
		if b.Events[0].ID != b.Events[0].TimeUUID || b.Events[0].Time == 0 {
			t.Fatalf("%s: %+v", f, b.Events[0])
		}
	}
}

func gunzip(t testing.TB, b []byte) []byte {
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestGoFixtureDecodes(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "fixtures", "go-sdk-layers", "log_event-2.body"))
	if err != nil {
		t.Fatal(err)
	}
	b, rej, err := DecodeRequest(gunzip(t, raw), RequestInfo{SDKKey: "k"})
	if err != nil || len(rej) != 0 {
		t.Fatal(err, rej)
	}
	if len(b.Events) != 147 || b.SDKType != "go-sdk" {
		t.Fatalf("%d events, sdk %q", len(b.Events), b.SDKType)
	}
	ids := map[string]bool{}
	for _, e := range b.Events {
		ids[e.ID] = true
	}
	if len(ids) != 147 {
		t.Fatalf("%d distinct IDs for 147 events", len(ids))
	}
}
