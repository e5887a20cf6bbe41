package debugger

import (
	"bytes"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestAccessComparesDigestsInConstantTime: every way in (?token=, the
// cookie, Authorization: Bearer, basic auth) is checked by the
// constant-time compare of SHA-256 digests, never of the credential as
// sent. Not a timing measurement: it checks the comparison's path.
func TestAccessComparesDigestsInConstantTime(t *testing.T) {
	const token, basicAuth = "ui-token-0123456789", "admin:pa55w0rd-xyz"
	var calls [][2][]byte
	orig := digestCompare
	digestCompare = func(a, b []byte) int {
		calls = append(calls, [2][]byte{append([]byte(nil), a...), append([]byte(nil), b...)})
		return orig(a, b)
	}
	t.Cleanup(func() { digestCompare = orig })
	h := Access{Token: token, BasicAuth: basicAuth}.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	tokenSum, basicSum := sha256.Sum256([]byte(token)), sha256.Sum256([]byte(basicAuth))
	for _, c := range []struct {
		name    string
		target  string
		prepare func(r *http.Request)
		sent    string // the credential as the request carries it
		want    [32]byte
		code    int
	}{
		{"query token", "/api/events?token=" + token, nil, token, tokenSum, 200},
		{"wrong query token", "/api/events?token=" + token[:5], nil, token[:5], tokenSum, 401},
		{"cookie", "/", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: tokenCookie, Value: token}) }, token, tokenSum, 200},
		{"bearer", "/", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }, token, tokenSum, 200},
		{"wrong bearer", "/", func(r *http.Request) { r.Header.Set("Authorization", "Bearer x"+token) }, "x" + token, tokenSum, 401},
		{"basic", "/", func(r *http.Request) { r.SetBasicAuth("admin", "pa55w0rd-xyz") }, basicAuth, basicSum, 200},
		{"wrong basic", "/", func(r *http.Request) { r.SetBasicAuth("admin", "pa55") }, "admin:pa55", basicSum, 401},
	} {
		calls = nil
		r := httptest.NewRequest("GET", c.target, nil)
		r.RemoteAddr = "203.0.113.9:4000"
		if c.prepare != nil {
			c.prepare(r)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != c.code {
			t.Errorf("%s: %d, want %d", c.name, w.Code, c.code)
		}
		sentSum := sha256.Sum256([]byte(c.sent))
		found := false
		for _, call := range calls {
			if len(call[0]) != sha256.Size || len(call[1]) != sha256.Size {
				t.Errorf("%s: compared %d with %d bytes, want two SHA-256 digests", c.name, len(call[0]), len(call[1]))
			}
			if bytes.Equal(call[0], sentSum[:]) && bytes.Equal(call[1], c.want[:]) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: the credential's digest was never compared with the configured one's (%d comparisons)", c.name, len(calls))
		}
	}
}
