package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/statsig-bridge/statsig-bridge/internal/queue"
	"github.com/statsig-bridge/statsig-bridge/internal/server"
)

// TestBrowserPreflightAndPost: the JS client in a browser sends statsig-*
// headers cross-origin, so the browser asks first (OPTIONS) and then reads
// the answer only with Access-Control-Allow-Origin.
func TestBrowserPreflightAndPost(t *testing.T) {
	t.Parallel() // a log and server of its own
	for _, tc := range []struct {
		origins []string
		origin  string
		allowed bool
	}{
		{[]string{"*"}, "https://shop.example.com", true},
		{[]string{"https://shop.example.com"}, "https://shop.example.com", true},
		{[]string{"https://shop.example.com"}, "https://evil.example", false},
	} {
		ts := startIntake(t, server.Config{AllowAnyKey: true, CORSOrigins: tc.origins}, queue.Config{})
		req, _ := http.NewRequest(http.MethodOptions, ts.URL+"/v1/rgstr?k=client-x", nil)
		req.Header.Set("Origin", tc.origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "statsig-api-key,statsig-sdk-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		gotOrigin := resp.Header.Get("Access-Control-Allow-Origin")
		if tc.allowed {
			if resp.StatusCode != http.StatusNoContent || gotOrigin != tc.origin ||
				!strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "statsig-api-key") {
				t.Errorf("%v/%s: preflight %d, allow-origin %q, allow-headers %q", tc.origins, tc.origin, resp.StatusCode, gotOrigin, resp.Header.Get("Access-Control-Allow-Headers"))
			}
		} else if resp.StatusCode != http.StatusForbidden || gotOrigin != "" {
			t.Errorf("%v/%s: preflight %d, allow-origin %q; want 403 and none", tc.origins, tc.origin, resp.StatusCode, gotOrigin)
		}
		post, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/rgstr?k=client-x", strings.NewReader(`{"events":[{"eventName":"page_view","user":{"userID":"u"}}]}`))
		post.Header.Set("Origin", tc.origin)
		presp, err := http.DefaultClient.Do(post)
		if err != nil {
			t.Fatal(err)
		}
		presp.Body.Close()
		if (presp.Header.Get("Access-Control-Allow-Origin") == tc.origin) != tc.allowed {
			t.Errorf("%v/%s: POST allow-origin %q", tc.origins, tc.origin, presp.Header.Get("Access-Control-Allow-Origin"))
		}
	}
}
