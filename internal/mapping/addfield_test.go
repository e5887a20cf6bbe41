package mapping

import (
	"encoding/json"
	"testing"
)

func TestAddFieldKeepsObjectsValid(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{`{}`, `{"g":"v"}`},
		{`{ }`, `{ "g":"v"}`},
		{"{\n}", "{\n\"g\":\"v\"}"},
		{`{"a":"1"}`, `{"a":"1","g":"v"}`},
		{`{"a":"1"}  `, `{"a":"1","g":"v"}`},
		{"{\"a\":\"1\"}\n\t", `{"a":"1","g":"v"}`},
		{`{ "a" : "1" }`, `{ "a" : "1" ,"g":"v"}`},
		{`{"a":{}}`, `{"a":{},"g":"v"}`},
		{`{"a":"}"}`, `{"a":"}","g":"v"}`},
		// Not an object: left alone rather than broken.
		{`[]`, `[]`},
		{`"x"`, `"x"`},
		{`}`, `}`},
		{``, ``},
	}
	for _, tt := range tests {
		got := string(addField(json.RawMessage(tt.in), "g", "v"))
		if got != tt.want {
			t.Errorf("addField(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if json.Valid([]byte(tt.in)) && !json.Valid([]byte(got)) {
			t.Errorf("addField(%q) made invalid JSON %q", tt.in, got)
		}
	}
	// Keys and values are escaped.
	got := addField(json.RawMessage(`{}`), `k"`, "a\"b\\\n<")
	var m map[string]string
	if err := json.Unmarshal(got, &m); err != nil || m[`k"`] != "a\"b\\\n<" {
		t.Fatalf("addField escaping: %s (%v)", got, err)
	}
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"*", "", true},
		{"*", "statsig::gate_exposure", true},
		{"statsig::*", "statsig::gate_exposure", true},
		{"statsig::*", "statsig:", false},
		{"*_exposure", "statsig::gate_exposure", true},
		{"*::*", "a::b", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbY", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"a/b", "a/b", true},
		{"*/checkout", "https://x/checkout", true},
		{"", "", true},
		{"", "x", false},
		{"x", "", false},
		{"**", "abc", true},
		{"*a", "bbb", false},
	}
	for _, tt := range tests {
		if got := match(tt.pattern, tt.name); got != tt.want {
			t.Errorf("match(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}
