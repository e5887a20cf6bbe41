package e2e

import (
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
)

// specsServer is a local stand-in for Statsig's specs API: it serves one
// download_config_specs file (v1, any sinceTime) to the one server secret
// it knows, answers POST /v1/get_id_lists with no lists, and 404s anything
// else. It records every request so a test can see who asked what.
type specsServer struct {
	*httptest.Server
	Secret string

	mu   sync.Mutex
	hits []specsHit
}

type specsHit struct {
	Method, Path, Key string
	Code              int
}

// newSpecsServer serves the file at dcsPath for secret.
func newSpecsServer(t testing.TB, dcsPath, secret string) *specsServer {
	t.Helper()
	dcs, err := os.ReadFile(dcsPath)
	if err != nil {
		t.Fatal(err)
	}
	s := &specsServer{Secret: secret}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, body := http.StatusNotFound, []byte(`{"error":"not found"}`)
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/v1/download_config_specs/"+secret+".json":
			code, body = http.StatusOK, dcs
		case r.Method == http.MethodPost && r.URL.Path == "/v1/get_id_lists":
			code, body = http.StatusOK, []byte(`{}`)
		}
		s.mu.Lock()
		s.hits = append(s.hits, specsHit{Method: r.Method, Path: r.URL.Path, Key: r.Header.Get("STATSIG-API-KEY"), Code: code})
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

// Hits returns the requests received so far.
func (s *specsServer) Hits() []specsHit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]specsHit(nil), s.hits...)
}
