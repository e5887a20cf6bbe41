package statsig

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// Extra seeds beside the fixtures: the shapes the decoders branch on.
var fuzzSeeds = []string{
	`{"events":[{"eventName":"a","user":{"userID":1},"time":"2024-01-02T03:04:05Z"},{"value":1},7,{"eventName":"b","time":"x"}]}`,
	`[{"eventName":"a","timeUUID":"t-1"},{"eventName":"a","timeUUID":"t-1"}]`,
	`{"data":[{"eventName":"statsig::config_change","user":{"name":"n"},"timestamp":"1655231253265"}]}`,
	`{"events":[{"eventName":"a","metadata":{"k":` + "\n" + `"v"}}],"user":{"customIDs":{"stableID":"s"}},"statsigMetadata":{"stableID":"s2"}}`,
	`{"events":[{"eventName":"  a  ","user":{"customIDs":{"x":null,"y":2}}},{"eventName":"a","user":{}}]}`,
	`{"events":null}`, `[]`, `{}`, ``, `"x"`,
}

func addFuzzSeeds(f *testing.F) {
	for _, fb := range fixtureBodies(f) {
		f.Add(fb.Body)
	}
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
}

func FuzzDecodeRequest(f *testing.F) {
	addFuzzSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		info := RequestInfo{ReceivedAt: time.UnixMilli(1_800_000_000_000), ClientTime: 1_799_999_999_000, SDKKey: "k"}
		b, rej, err := DecodeRequest(body, info)
		if err != nil {
			if b != nil || rej != nil {
				t.Fatalf("error %v with a batch or rejections", err)
			}
			return
		}
		checkBatchInvariants(t, b)
		checkRejections(t, rej)
		if n, ok := eventsArrayLen(body, false); ok && n != len(b.Events)+len(rej) {
			t.Fatalf("%d accepted + %d rejected != %d array elements", len(b.Events), len(rej), n)
		}
		for i := range b.Events {
			e := &b.Events[i]
			orig, corr := b.EventTime(e)
			wantOrig := e.Time
			if wantOrig <= 0 {
				wantOrig = info.ClientTime
			}
			if orig != wantOrig || corr != info.ReceivedAt.UnixMilli()-(info.ClientTime-wantOrig) {
				t.Fatalf("event %d (time %d): EventTime = %d, %d", i, e.Time, orig, corr)
			}
		}
		// Decoding is deterministic: the same body gives the same IDs.
		again, _, _ := DecodeRequest(bytes.Clone(body), info)
		if again.ID != b.ID || len(again.Events) != len(b.Events) {
			t.Fatalf("second decode differs: %s/%d vs %s/%d", again.ID, len(again.Events), b.ID, len(b.Events))
		}
		for i := range b.Events {
			if again.Events[i].ID != b.Events[i].ID {
				t.Fatalf("event %d: ID %s then %s", i, b.Events[i].ID, again.Events[i].ID)
			}
		}
		checkRawValid(t, b)
	})
}

// checkRawValid holds AppendBinary's trust in a decoded request
// (Batch.rawValid: raw values appended unchecked when they look plain) to
// the reference: the same batch not trusted, every raw value checked and
// normalised.
func checkRawValid(t *testing.T, b *Batch) {
	t.Helper()
	if !b.rawValid {
		t.Fatal("DecodeRequest did not mark its raw values valid")
	}
	got, gotErr := b.AppendBinary(nil)
	ref := *b
	ref.rawValid = false
	want, wantErr := ref.AppendBinary(nil)
	if (gotErr != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
		t.Fatalf("stored batch of a decoded request differs from the checked one:\n got %q (%v)\nwant %q (%v)", got, gotErr, want, wantErr)
	}
}

func FuzzDecodeWebhook(f *testing.F) {
	addFuzzSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		b, rej, err := DecodeWebhook(body, time.UnixMilli(1_800_000_000_000), 0)
		if err != nil {
			if b != nil || rej != nil {
				t.Fatalf("error %v with a batch or rejections", err)
			}
			return
		}
		checkBatchInvariants(t, b)
		checkRejections(t, rej)
		if n, ok := eventsArrayLen(body, true); ok && n != len(b.Events)+len(rej) {
			t.Fatalf("%d accepted + %d rejected != %d array elements", len(b.Events), len(rej), n)
		}
		if b.Source != SourceWebhook {
			t.Fatalf("source %q", b.Source)
		}
	})
}

// FuzzVerifySignature: a body signed with Sign verifies; any other body,
// timestamp or secret does not.
func FuzzVerifySignature(f *testing.F) {
	bodies, timestamps, _ := webhookFixtures(f)
	for i, body := range bodies {
		f.Add([]byte("fixture-signing-secret"), timestamps[i], body, body[:len(body)-1])
	}
	f.Add([]byte("fixture-signing-secret"), "1795534352070", []byte(`{"data":[]}`), []byte(`{"data":[] }`))
	f.Add([]byte(""), "1700000000", []byte(""), []byte("x"))
	f.Fuzz(func(t *testing.T, secret []byte, ts string, body, other []byte) {
		now := time.UnixMilli(1_795_534_352_070)
		// Header values arrive trimmed (net/http), and VerifySignature
		// trims them too: sign what a sender's header would carry.
		ts = strings.TrimSpace(ts)
		sig := Sign(secret, ts, body)
		err := VerifySignature(secret, ts, sig, body, now, 5*time.Minute)
		if err == ErrSignatureMismatch {
			t.Fatalf("own signature refused for ts %q", ts)
		}
		if !bytes.Equal(body, other) {
			if err := VerifySignature(secret, ts, sig, other, now, 5*time.Minute); err == nil {
				t.Fatalf("signature of %q accepted for %q", body, other)
			}
		}
	})
}

func checkRejections(t *testing.T, rej []Rejection) {
	t.Helper()
	seen := map[int]bool{}
	for i, r := range rej {
		if r.Reason == "" || r.Index < 0 || seen[r.Index] {
			t.Fatalf("rejection %d: %+v (seen %v)", i, r, seen[r.Index])
		}
		if i > 0 && r.Index < rej[i-1].Index {
			t.Fatalf("rejections out of order: %+v", rej)
		}
		seen[r.Index] = true
	}
}
