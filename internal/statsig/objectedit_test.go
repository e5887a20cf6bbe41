package statsig

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
)

// referenceObjectEdited is AppendObjectEdited as encoding/json does it:
// decode into a map, assign, marshal.
func referenceObjectEdited(obj []byte, edits []MemberEdit) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(obj, &m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]json.RawMessage{}
	}
	before := maps.Clone(m)
	for _, e := range edits {
		v := e.Value
		if e.From != "" {
			v = before[e.From]
		}
		m[e.Name] = v
	}
	return json.Marshal(m)
}

// editsOf makes a sorted edit list from fuzzed names and a value: a plain
// assignment, an assignment with a value json.Marshal must HTML-escape,
// and a copy of another member.
func editsOf(a, b, c, from, value string) []MemberEdit {
	var raw bytes.Buffer
	enc := json.NewEncoder(&raw)
	enc.SetEscapeHTML(false) // as the mapping quotes names: AppendObjectEdited escapes them
	_ = enc.Encode(value)
	edits := []MemberEdit{
		{Name: a, Value: json.RawMessage(`"` + strings.ToValidUTF8(strings.Map(plainRune, a), "") + `"`)},
		{Name: b, Value: bytes.TrimSpace(raw.Bytes())},
		{Name: c, From: from},
	}
	slices.SortStableFunc(edits, func(x, y MemberEdit) int { return strings.Compare(x.Name, y.Name) })
	return slices.CompactFunc(edits, func(x, y MemberEdit) bool { return x.Name == y.Name })
}

func plainRune(r rune) rune {
	if r < 0x20 || r == '"' || r == '\\' {
		return -1
	}
	return r
}

var objectEditSeeds = []string{
	`{"allocatedExperiment":"e","config":"layer","isExplicitParameter":"true","parameterName":"p","ruleID":"r","serverTime":"1"}`,
	`{"config":"layer","allocatedExperiment":"e","ruleID":"r"}`,
	`{"config":"a","config":"b"}`,
	`{"config" : "layer", "x":[1, 2]}`,
	`{"config":"<b>","a":"\u2028"}`,
	`{"\u0063onfig":"layer","b":1}`,
	`{"config":{"nested":true},"z":null}`,
	`{}`,
	`null`,
	`[1]`,
	`{"a":1`,
}

func FuzzAppendObjectEdited(f *testing.F) {
	for _, s := range objectEditSeeds {
		f.Add([]byte(s), "config", "allocatedExperiment", "layer", "config", "exp<&>")
		f.Add([]byte(s), "a", "experimentGroupName", "config", "missing", "g")
	}
	for _, m := range fixtureMetadata(f) {
		f.Add(m, "allocatedExperiment", "config", "layer", "config", "exp")
	}
	f.Fuzz(func(t *testing.T, obj []byte, a, b, c, from, value string) {
		checkObjectEdited(t, obj, editsOf(a, b, c, from, value))
	})
}

func checkObjectEdited(t *testing.T, obj []byte, edits []MemberEdit) {
	t.Helper()
	want, wantErr := referenceObjectEdited(obj, edits)
	got, err := AppendObjectEdited([]byte("prefix"), obj, edits)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("AppendObjectEdited(%q, %+v): error %v, encoding/json %v", obj, edits, err, wantErr)
	}
	if err != nil {
		if string(got) != "prefix" {
			t.Fatalf("AppendObjectEdited(%q) left %q after an error", obj, got)
		}
		return
	}
	if string(got) != "prefix"+string(want) {
		t.Fatalf("AppendObjectEdited(%q, %+v)\n got %s\nwant prefix%s", obj, edits, got, want)
	}
}

func TestAppendObjectEditedSeeds(t *testing.T) {
	for _, s := range objectEditSeeds {
		checkObjectEdited(t, []byte(s), editsOf("config", "allocatedExperiment", "layer", "config", "exp<&>"))
		checkObjectEdited(t, []byte(s), editsOf("a", "experimentGroupName", "config", "missing", "g"))
	}
}
