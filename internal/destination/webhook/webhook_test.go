package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/destination/desttest"
	"github.com/statsig-bridge/statsig-bridge/internal/destination/webhook"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// captured is one request as the test receiver saw it.
type captured struct {
	Header http.Header
	Body   []byte
	Path   string
}

func newReceiver(t *testing.T, answer func(r *http.Request) (int, http.Header)) (*httptest.Server, func() []captured) {
	var (
		mu  sync.Mutex
		got []captured
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, captured{Header: r.Header.Clone(), Body: body, Path: r.URL.RequestURI()})
		mu.Unlock()
		code, h := http.StatusOK, http.Header(nil)
		if answer != nil {
			code, h = answer(r)
		}
		for k, v := range h {
			w.Header()[k] = v
		}
		w.WriteHeader(code)
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(srv.Close)
	return srv, func() []captured {
		mu.Lock()
		defer mu.Unlock()
		return append([]captured(nil), got...)
	}
}

var items = [][]byte{
	[]byte(`{"type":"track","event":"a","userId":"u1","messageId":"m1"}`),
	[]byte(`{"type":"track","event":"b","userId":"u2","messageId":"m2"}`),
}

func TestWriteSignsLikeStatsigWebhook(t *testing.T) {
	srv, got := newReceiver(t, nil)
	now := time.UnixMilli(1_800_000_000_123)
	w := webhook.New(webhook.Config{
		URL: srv.URL + "/hooks/statsig?team=growth", Secret: "whsec-test", Now: func() time.Time { return now },
		Headers: map[string]string{"Authorization": "Bearer abc", "X-Team": "growth"}, UserAgent: "statsig-bridge/test",
	})
	if err := w.Write(context.Background(), items); err != nil {
		t.Fatal(err)
	}
	reqs := got()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Path != "/hooks/statsig?team=growth" {
		t.Errorf("path %q", r.Path)
	}
	h := r.Header
	for k, want := range map[string]string{
		"Content-Type": "application/json", "Authorization": "Bearer abc", "X-Team": "growth",
		"User-Agent": "statsig-bridge/test", "X-Statsig-Request-Timestamp": "1800000000123",
	} {
		if h.Get(k) != want {
			t.Errorf("header %s = %q, want %q", k, h.Get(k), want)
		}
	}
	// A receiver verifies with the same code that checks Statsig's own webhook.
	ts, sig := h.Get(webhook.HeaderTimestamp), h.Get(webhook.HeaderSignature)
	if err := statsig.VerifySignature([]byte("whsec-test"), ts, sig, r.Body, now, time.Minute); err != nil {
		t.Errorf("signature does not verify with the secret: %v", err)
	}
	if err := statsig.VerifySignature([]byte("whsec-wrong"), ts, sig, r.Body, now, time.Minute); !errors.Is(err, statsig.ErrSignatureMismatch) {
		t.Errorf("signature verifies with a wrong secret: %v", err)
	}
	tampered := append([]byte(nil), r.Body...)
	tampered[len(tampered)-3] ^= 1
	if err := statsig.VerifySignature([]byte("whsec-test"), ts, sig, tampered, now, time.Minute); !errors.Is(err, statsig.ErrSignatureMismatch) {
		t.Errorf("signature verifies a changed body: %v", err)
	}
	var env struct {
		Batch  []map[string]any `json:"batch"`
		SentAt string           `json:"sentAt"`
	}
	if err := json.Unmarshal(r.Body, &env); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, r.Body)
	}
	if len(env.Batch) != 2 || env.Batch[1]["messageId"] != "m2" || env.SentAt != "2027-01-15T08:00:00.123Z" {
		t.Errorf("body %s", r.Body)
	}
}

func TestWriteWithoutSecretIsUnsigned(t *testing.T) {
	srv, got := newReceiver(t, nil)
	if err := webhook.New(webhook.Config{URL: srv.URL}).Write(context.Background(), items); err != nil {
		t.Fatal(err)
	}
	if h := got()[0].Header; h.Get(webhook.HeaderSignature) != "" || h.Get(webhook.HeaderTimestamp) != "" {
		t.Errorf("unsigned destination sent signature headers: %v", h)
	}
}

// TestAnswers: each row of the webhook's status table, over HTTP. A 404
// pauses: a wrong URL must not dead-letter every event.
func TestAnswers(t *testing.T) {
	desttest.CheckAnswers(t, webhook.Answers, map[string]desttest.Row{
		"2xx": {Code: 204, Want: "ok"},
		"401": {Code: 401, Want: "auth"},
		"403": {Code: 403, Want: "auth"},
		"404": {Code: 404, Want: "auth"},
		"405": {Code: 405, Want: "auth"},
		"410": {Code: 410, Want: "auth"},
		"408": {Code: 408, Want: "backoff"},
		"429": {Code: 429, Want: "backoff"},
		"5xx": {Code: 502, Want: "backoff"},
		"4xx": {Code: 422, Want: "permanent"},
	}, `{"error":"echo Bearer hook-token-123456 sig-secret-987654"}`, []string{"hook-token-123456", "sig-secret-987654"},
		func(ctx context.Context, url string) error {
			return webhook.New(webhook.Config{URL: url, Secret: "sig-secret-987654", Headers: map[string]string{"Authorization": "Bearer hook-token-123456"}}).
				Write(ctx, items)
		})
}

// TestErrorsNameNoCredentials: errors end up in logs, metrics and dead
// letters; the URL's user info, path and query and the signing secret
// must not.
func TestErrorsNameNoCredentials(t *testing.T) {
	srv, _ := newReceiver(t, func(*http.Request) (int, http.Header) { return 400, nil })
	host := strings.TrimPrefix(srv.URL, "http://")
	secretURL := "http://hookuser:hookpass@" + host + "/path-token-123?token=querytoken456"
	w := webhook.New(webhook.Config{URL: secretURL, Secret: "signing-secret-789"})
	errs := []error{w.Write(context.Background(), items)}
	srv.Close()
	errs = append(errs, w.Write(context.Background(), items)) // connection refused
	for _, err := range errs {
		if err == nil {
			t.Fatal("no error")
		}
		for _, secret := range []string{"hookpass", "hookuser", "path-token-123", "querytoken456", "signing-secret-789"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q contains %q", err, secret)
			}
		}
		if !strings.Contains(err.Error(), host) {
			t.Errorf("error %q does not name the receiver's host", err)
		}
	}
}
