// Package desttest checks an HTTP destination's status table over real
// HTTP, for the destinations' tests. It is imported by tests only.
package desttest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/httpsend"
)

// Row is one row of a status table as a test states it: the status a
// test target answers and the Runner's outcome the destination must
// report: "ok", "auth" (pause), "permanent" (bisect, dead-letter),
// "backoff" (retry after the answer's Retry-After) or "transient".
type Row struct {
	Code int
	Want string
}

// RetryAfter is the Retry-After every test answer carries: only the rows
// that back off may honour it.
const RetryAfter = 3 * time.Second

// CheckAnswers answers each row's status from a real httptest.Server, with
// Retry-After and body, and checks what write (a destination's Write to
// that server's URL) reports. rows must name every key of table exactly
// once, so a row added to a table without a test fails here. Every error
// is checked for the secrets.
func CheckAnswers(t *testing.T, table httpsend.Table, rows map[string]Row, body string, secrets []string,
	write func(ctx context.Context, url string) error) {
	t.Helper()
	if err := table.Check(); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := table.Keys(); !slices.Equal(keys, sorted(want)) {
		t.Fatalf("rows tested %v, table has %v", keys, want)
	}
	for _, key := range table.Keys() {
		row := rows[key]
		t.Run(key, func(t *testing.T) {
			if table.Outcome(row.Code) != table[key] {
				t.Fatalf("status %d does not fall in row %s", row.Code, key)
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "3")
				w.WriteHeader(row.Code)
				_, _ = w.Write([]byte(body))
			}))
			defer srv.Close()
			err := write(context.Background(), srv.URL)
			if got := Class(err); got != row.Want {
				t.Fatalf("HTTP %d: %s (%v), want %s", row.Code, got, err, row.Want)
			}
			var bo *destination.BackOffError
			if errors.As(err, &bo) && bo.Wait != RetryAfter {
				t.Errorf("HTTP %d: wait %s, want %s", row.Code, bo.Wait, RetryAfter)
			}
			var perm *destination.PermanentError
			if errors.As(err, &perm) && perm.Status != row.Code {
				t.Errorf("HTTP %d: dead letter keeps status %d", row.Code, perm.Status)
			}
			for _, s := range secrets {
				if err != nil && s != "" && strings.Contains(err.Error(), s) {
					t.Errorf("HTTP %d: error names a secret: %v", row.Code, err)
				}
			}
		})
	}
}

// Class names the Runner's outcome of a Write error.
func Class(err error) string {
	var (
		auth *destination.AuthError
		perm *destination.PermanentError
		bo   *destination.BackOffError
	)
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &auth):
		return "auth"
	case errors.As(err, &perm):
		return "permanent"
	case errors.As(err, &bo):
		return "backoff"
	}
	return "transient"
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
