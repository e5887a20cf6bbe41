package debugger_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/statsig-bridge/statsig-bridge/internal/config"
	"github.com/statsig-bridge/statsig-bridge/internal/debugger"
)

// TestAccess: on loopback the UI is open; elsewhere only the token (query,
// bearer, or the cookie the query sets) or basic auth gets in.
func TestAccess(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	do := func(h http.Handler, prepare func(r *http.Request), target string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", target, nil)
		r.RemoteAddr = "203.0.113.9:4000"
		if prepare != nil {
			prepare(r)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	open := debugger.Access{Loopback: true}.Wrap(ok)
	if w := do(open, nil, "/api/events"); w.Code != 200 {
		t.Errorf("loopback: %d", w.Code)
	}

	guarded := debugger.Access{Token: "s3cret-token", BasicAuth: "admin:pa55"}.Wrap(ok)
	cases := []struct {
		name    string
		target  string
		prepare func(r *http.Request)
		want    int
	}{
		{"nothing", "/api/events", nil, 401},
		{"wrong token", "/api/events?token=nope", nil, 401},
		{"query token", "/api/events?token=s3cret-token", nil, 200},
		{"bearer", "/api/events", func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cret-token") }, 200},
		{"wrong bearer", "/api/events", func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cret-tokeN") }, 401},
		{"cookie", "/ui/app.js", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "statsig_bridge_ui", Value: "s3cret-token"}) }, 200},
		{"basic", "/", func(r *http.Request) { r.SetBasicAuth("admin", "pa55") }, 200},
		{"wrong basic", "/", func(r *http.Request) { r.SetBasicAuth("admin", "pa56") }, 401},
		{"token as basic password", "/", func(r *http.Request) { r.SetBasicAuth("admin", "s3cret-token") }, 401},
	}
	for _, c := range cases {
		w := do(guarded, c.prepare, c.target)
		if w.Code != c.want {
			t.Errorf("%s: %d, want %d", c.name, w.Code, c.want)
		}
		if c.want == 401 && w.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%s: no WWW-Authenticate for basic auth", c.name)
		}
	}
	// Opening the page with ?token= sets the cookie its assets and stream use.
	w := do(guarded, nil, "/?token=s3cret-token")
	if c := w.Result().Cookies(); len(c) != 1 || c[0].Value != "s3cret-token" || !c[0].HttpOnly {
		t.Errorf("cookie after ?token=: %+v", c)
	}
	// Token only: basic auth is no way in.
	tokenOnly := debugger.Access{Token: "t"}.Wrap(ok)
	if w := do(tokenOnly, func(r *http.Request) { r.SetBasicAuth("", "") }, "/"); w.Code != 401 {
		t.Errorf("empty basic auth got in: %d", w.Code)
	}

	if (debugger.Access{}).Enabled() || !(debugger.Access{Loopback: true}).Enabled() || !(debugger.Access{Token: "t"}).Enabled() {
		t.Error("Enabled: the UI must be off off loopback without credentials")
	}
	for addr, want := range map[string]bool{"127.0.0.1:8080": true, "localhost:1": true, "[::1]:80": true,
		"0.0.0.0:8080": false, ":8080": false, "10.0.0.1:80": false, "bad": false} {
		if config.IsLoopback(addr) != want {
			t.Errorf("IsLoopback(%q) = %v", addr, !want)
		}
	}
}

// TestServeGuardsTheUIOffLoopback: a bridge listening on every interface
// serves the UI only with the token, and not at all without one; intake
// works either way.
func TestServeGuardsTheUIOffLoopback(t *testing.T) {
	for _, c := range []struct {
		name, ui string
		anon     int // GET /api/events without credentials
	}{
		{"no token", "", http.StatusNotFound},
		{"token", "ui: {token: ui-s3cret}\n", http.StatusUnauthorized},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := startBridge(t, "listen: 0.0.0.0:0\ndata_dir: DATADIR\nintake: {api_keys: [client-test]}\n"+c.ui)
			// Reach it over loopback all the same.
			_, port, err := net.SplitHostPort(strings.TrimPrefix(b.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			b.URL = "http://127.0.0.1:" + port
			post(t, b, custom("x", "u1"))
			getJSON(t, b.URL+"/api/events", c.anon, nil)
			getJSON(t, b.URL+"/", c.anon, nil)
			if c.ui != "" {
				var l eventList
				getJSON(t, b.URL+"/api/events?token=ui-s3cret", http.StatusOK, &l)
				if l.Total != 1 {
					t.Errorf("total %d", l.Total)
				}
			}
		})
	}
}
