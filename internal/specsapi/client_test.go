package specsapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/httpsend"
)

const testSecret = "secret-specs-0123456789"

// TestAnswers: each row of the specs API's status table, over HTTP, and
// the wait the Watcher takes after it.
func TestAnswers(t *testing.T) {
	const interval = time.Minute
	rows := map[string]struct {
		code int
		// outcome is the StatusError's, or Accept for specs.
		outcome httpsend.Outcome
		// wait is the Watcher's before the next fetch, without specs yet.
		wait time.Duration
	}{
		"2xx": {200, httpsend.Accept, interval},
		"401": {401, httpsend.Pause, interval},
		"403": {403, httpsend.Pause, interval},
		"404": {404, httpsend.Pause, interval},
		"408": {408, httpsend.BackOff, 5 * time.Second},
		"429": {429, httpsend.BackOff, 7 * time.Second}, // Retry-After beats the 5 s
		"5xx": {502, httpsend.BackOff, 7 * time.Second},
		"4xx": {400, httpsend.Refuse, interval},
	}
	var keys []string
	for k := range rows {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := slices.Sorted(slices.Values(Answers.Keys())); !slices.Equal(keys, want) {
		t.Fatalf("rows tested %v, table has %v", keys, want)
	}
	if err := Answers.Check(); err != nil {
		t.Fatal(err)
	}
	for key, row := range rows {
		t.Run(key, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodGet || r.URL.Path != "/v1/download_config_specs/"+testSecret+".json" || r.Header.Get("STATSIG-API-KEY") != testSecret {
					t.Errorf("request %s %s", r.Method, r.URL)
				}
				if row.code == 429 || row.code == 502 {
					w.Header().Set("Retry-After", "7")
				}
				w.WriteHeader(row.code)
				_, _ = w.Write([]byte(`{"feature_gates":[],"dynamic_configs":[],"layer_configs":[],"time":5,"echo":"` + testSecret + `"}`))
			}))
			defer srv.Close()
			specs, err := NewClient(Config{Base: srv.URL + "/v1", Secret: testSecret}).Fetch(context.Background(), 0)
			var se *httpsend.StatusError
			switch {
			case row.outcome == httpsend.Accept:
				if err != nil || specs == nil || specs.Time != 5 {
					t.Fatalf("HTTP %d: %v, %v", row.code, specs, err)
				}
			case !errors.As(err, &se) || se.Outcome != row.outcome:
				t.Fatalf("HTTP %d: %v, want %s", row.code, err, row.outcome)
			}
			if (row.code == 401 || row.code == 403) != errors.Is(err, ErrUnauthorized) {
				t.Errorf("HTTP %d: %v, ErrUnauthorized only for 401/403", row.code, err)
			}
			if err != nil && strings.Contains(err.Error(), testSecret) {
				t.Errorf("error names the server secret: %v", err)
			}
			if got := retryWait(err, interval, false); got != row.wait {
				t.Errorf("HTTP %d: next fetch in %s, want %s", row.code, got, row.wait)
			}
		})
	}
}
