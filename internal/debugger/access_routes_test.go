package debugger_test

import (
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestEveryDebuggerRouteGuardedOffLoopback: listening on every interface
// with basic auth only, each page, asset and API route — the live stream
// and the re-drive included — answers 401 (with a basic-auth challenge) to
// a request without credentials, with a wrong password, or with a
// ?token= (no token is configured, so no token opens it); with the
// credentials it is served. Intake, health and /metrics are not behind the
// debugger's rule.
func TestEveryDebuggerRouteGuardedOffLoopback(t *testing.T) {
	s := newSink(t)
	b := startBridge(t, "listen: 0.0.0.0:0\ndata_dir: DATADIR\nintake: {api_keys: [client-test]}\nui: {basic_auth: \"ops:c0rrect-h0rse\"}\n"+
		"destinations:\n"+destinationYAML("seg", s.URL, ""))
	_, port, err := net.SplitHostPort(strings.TrimPrefix(b.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	b.URL = "http://127.0.0.1:" + port // reach it over loopback all the same
	post(t, b, custom("x", "u1"))

	do := func(method, path string, prepare func(r *http.Request)) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, b.URL+path, nil)
		if prepare != nil {
			prepare(req)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		resp.Body.Close()
		return resp
	}
	routes := []struct {
		method, path string
		ok           int // with the credentials
	}{
		{"GET", "/", 200}, {"GET", "/ui/app.js", 200}, {"GET", "/ui/style.css", 200},
		{"GET", "/api/events", 200}, {"GET", "/api/events/nope", 404}, {"GET", "/api/delivery", 200},
		{"GET", "/api/delivery/seg/reasons/dead_letter/x", 200}, {"GET", "/api/config", 200},
		{"POST", "/api/destinations/nope/redrive", 404}, {"GET", "/api/no-such-route", 404},
	}
	refused := map[string]func(r *http.Request){
		"no credentials":     nil,
		"wrong password":     func(r *http.Request) { r.SetBasicAuth("ops", "c0rrect-h0rsE") },
		"password as bearer": func(r *http.Request) { r.Header.Set("Authorization", "Bearer c0rrect-h0rse") },
		"empty token":        func(r *http.Request) { r.URL.RawQuery = "token=" },
		"password as token":  func(r *http.Request) { r.URL.RawQuery = "token=c0rrect-h0rse" },
	}
	for _, rt := range routes {
		for name, prepare := range refused {
			resp := do(rt.method, rt.path, prepare)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s with %s: %d, want 401", rt.method, rt.path, name, resp.StatusCode)
			}
			if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("%s %s with %s: no basic-auth challenge", rt.method, rt.path, name)
			}
		}
		resp := do(rt.method, rt.path, func(r *http.Request) { r.SetBasicAuth("ops", "c0rrect-h0rse") })
		if resp.StatusCode != rt.ok {
			t.Errorf("%s %s with the credentials: %d, want %d", rt.method, rt.path, resp.StatusCode, rt.ok)
		}
	}
	// The live stream too (with the credentials it stays open: not waited for here).
	for name, prepare := range refused {
		if resp := do("GET", "/api/stream", prepare); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET /api/stream with %s: %d, want 401", name, resp.StatusCode)
		}
	}
	// Not the debugger's: open to anyone who can reach the port.
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if resp := do("GET", p, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", p, resp.StatusCode)
		}
	}
}
