package statsig

import (
	"encoding/json"
	"testing"
)

// flatExposureSeeds are flat metadata objects at the edges of
// decodeFlatExposure: names that match a field ignoring case, a field
// twice, unknown names, empty values.
var flatExposureSeeds = []string{
	`{"allocatedExperiment":"e","config":"l","isExplicitParameter":"true","parameterName":"p","ruleID":"r","serverTime":"1"}`,
	`{"gate":"g","gateValue":"true","ruleID":"r"}`,
	`{"Config":"c"}`,
	`{"config":"a","CONFIG":"b"}`,
	`{"config":"a","config":"b"}`,
	`{"config":"","ruleid":"r"}`,
	`{"z":"1","config":"c","a":"2"}`,
	`{"config":"<&>","gate":"` + "\x7f" + `"}`,
	`{"config":"c","ruleID":5}`,
	`{"config":"\u0063"}`,
}

// FuzzDecodeExposureMetadata holds DecodeExposureMetadata, flat fast path
// included, to json.Unmarshal.
func FuzzDecodeExposureMetadata(f *testing.F) {
	for _, s := range flatExposureSeeds {
		f.Add([]byte(s))
	}
	for _, m := range fixtureMetadata(f) {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkExposureMetadata(t, raw)
	})
}

func checkExposureMetadata(t *testing.T, raw []byte) {
	t.Helper()
	got, err := DecodeExposureMetadata(raw)
	var want ExposureMetadata
	wantErr := json.Unmarshal(raw, &want)
	if (err == nil) != (wantErr == nil) || (err == nil && got != want) {
		t.Fatalf("DecodeExposureMetadata(%q) = %+v (%v), json.Unmarshal %+v (%v)", raw, got, err, want, wantErr)
	}
}

func TestDecodeExposureMetadataSeeds(t *testing.T) {
	flat := 0
	for _, s := range flatExposureSeeds {
		checkExposureMetadata(t, []byte(s))
		if _, ok := decodeFlatExposure([]byte(s)); ok {
			flat++
		}
	}
	if flat == 0 {
		t.Fatal("no seed takes the flat way")
	}
}
