package mapping_test

import (
	"testing"

	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
)

// globRef is the reference for include/exclude globs: dynamic programming
// over bytes, * any run (":" and "/" included), ? exactly one byte.
func globRef(pattern, name string) bool {
	// m[j]: pattern[:i] matches name[:j], row by row.
	m := make([]bool, len(name)+1)
	m[0] = true
	for i := 0; i < len(pattern); i++ {
		next := make([]bool, len(name)+1)
		switch pattern[i] {
		case '*':
			next[0] = m[0]
			for j := 1; j <= len(name); j++ {
				next[j] = m[j] || next[j-1]
			}
		default:
			for j := 1; j <= len(name); j++ {
				next[j] = m[j-1] && (pattern[i] == '?' || pattern[i] == name[j-1])
			}
		}
		m = next
	}
	return m[len(name)]
}

// FuzzGlob holds the include/exclude matcher to the reference.
func FuzzGlob(f *testing.F) {
	for _, s := range [][2]string{
		{"statsig::*", "statsig::gate_exposure"},
		{"*_exposure", "statsig::config_exposure"},
		{"checkout?", "checkout1"},
		{"a*b*c", "aXbYbZc"},
		{"*", ""},
		{"", ""},
		{"?", ""},
		{"**a", "ba"},
		{"a*", "a"},
		{"é?", "é"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		if len(pattern)*len(name) > 1<<16 {
			return // the reference is quadratic
		}
		if got, want := mapping.MatchAny([]string{pattern}, name), globRef(pattern, name); got != want {
			t.Fatalf("MatchAny(%q, %q) = %v, want %v", pattern, name, got, want)
		}
	})
}
