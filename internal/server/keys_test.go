package server

import (
	"bytes"
	"crypto/sha256"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestKeyComparisonIsConstantTimeOverDigests: every SDK key check goes
// through the constant-time compare, with SHA-256 digests on both sides
// (never the key as sent, so its length does not matter either), against
// every configured key whether or not an earlier one matched. Not a timing
// measurement: it checks the comparison's path.
func TestKeyComparisonIsConstantTimeOverDigests(t *testing.T) {
	keys := []string{"client-key-one", "client-key-two-longer", "secret-3"}
	type call struct{ a, b []byte }
	var calls []call
	orig := digestCompare
	digestCompare = func(a, b []byte) int {
		calls = append(calls, call{append([]byte(nil), a...), append([]byte(nil), b...)})
		return orig(a, b)
	}
	t.Cleanup(func() { digestCompare = orig })

	s := New(Config{APIKeys: keys}, nil, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	check := func(name, key string, want bool) {
		t.Helper()
		calls = nil
		if got := keyMatches(key, s.keys); got != want {
			t.Errorf("%s: keyMatches(%q) = %v, want %v", name, key, got, want)
		}
		if len(calls) != len(keys) {
			t.Errorf("%s: %d constant-time comparisons, want one per configured key (%d)", name, len(calls), len(keys))
		}
		sum := sha256.Sum256([]byte(key))
		for i, c := range calls {
			if len(c.a) != sha256.Size || len(c.b) != sha256.Size || !bytes.Equal(c.a, sum[:]) {
				t.Errorf("%s: comparison %d was not of the key's SHA-256 digest with a configured key's: %x vs %x", name, i, c.a, c.b)
			}
			want := sha256.Sum256([]byte(keys[i]))
			if !bytes.Equal(c.b, want[:]) {
				t.Errorf("%s: comparison %d was not with key %d's digest", name, i, i)
			}
		}
	}
	check("first key", keys[0], true)
	check("last key", keys[2], true)
	check("a prefix of a key", "client-key", false)
	check("a key plus more", keys[1]+"x", false)
	check("empty", "", false)

	// The intake's key check is this comparison: a wrong key sent over HTTP
	// is refused after one comparison per configured key.
	calls = nil
	r := httptest.NewRequest(http.MethodPost, "/v1/log_event", strings.NewReader(`{"events":[]}`))
	r.Header.Set("STATSIG-API-KEY", "client-key-onE")
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized {
		t.Errorf("wrong key over HTTP: %d %s", w.Code, w.Body)
	}
	if len(calls) != len(keys) {
		t.Errorf("wrong key over HTTP: %d constant-time comparisons, want %d", len(calls), len(keys))
	}
}
