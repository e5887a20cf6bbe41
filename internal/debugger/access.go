package debugger

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// Access guards the pages and the API. On a loopback listen address they
// are open; elsewhere a request needs the token (query token= or
// Authorization: Bearer) or the basic-auth user:password.
type Access struct {
	// Loopback says the bridge listens on a loopback address only.
	Loopback bool
	// Token and BasicAuth ("user:password") are the accepted credentials.
	Token     string
	BasicAuth string
}

// Enabled reports whether the UI may be served: on loopback, or with a
// credential configured.
func (a Access) Enabled() bool { return a.Loopback || a.Token != "" || a.BasicAuth != "" }

// Wrap returns next behind the access check.
func (a Access) Wrap(next http.Handler) http.Handler {
	if a.Loopback {
		return next
	}
	token := sha256.Sum256([]byte(a.Token))
	basic := sha256.Sum256([]byte(a.BasicAuth))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.allowed(r, token, basic) {
			if t := r.URL.Query().Get("token"); t != "" && a.Token != "" {
				// The page's own assets and its EventSource carry no
				// header: a cookie carries the token for them.
				http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: t, Path: "/", HttpOnly: true,
					SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
			}
			next.ServeHTTP(w, r)
			return
		}
		if a.BasicAuth != "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="statsig-bridge", charset="UTF-8"`)
		}
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "the debugger needs a token (?token= or Authorization: Bearer) or basic auth on a non-loopback address"})
	})
}

// digestCompare is subtle.ConstantTimeCompare. It is a variable only so
// that a test can see every credential check go through it.
var digestCompare = subtle.ConstantTimeCompare

// allowed compares the request's credential with the configured ones as
// SHA-256 digests in constant time: digests have one length, so neither a
// guess's matching prefix nor the credential's length shows in the timing.
func (a Access) allowed(r *http.Request, token, basic [32]byte) bool {
	eq := func(got string, want [32]byte) bool {
		sum := sha256.Sum256([]byte(got))
		return digestCompare(sum[:], want[:]) == 1
	}
	if a.Token != "" {
		if t := r.URL.Query().Get("token"); t != "" && eq(t, token) {
			return true
		}
		if c, err := r.Cookie(tokenCookie); err == nil && c.Value != "" && eq(c.Value, token) {
			return true
		}
		if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") && eq(strings.TrimSpace(h[7:]), token) {
			return true
		}
	}
	if a.BasicAuth != "" {
		if u, p, ok := r.BasicAuth(); ok && eq(u+":"+p, basic) {
			return true
		}
	}
	return false
}

// tokenCookie carries the UI token after the page was opened with it.
const tokenCookie = "statsig_bridge_ui"
