package server_test

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/queue"
	"github.com/statsig-bridge/statsig-bridge/internal/server"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// fixtureSecret signed testdata/fixtures/webhook.
const fixtureSecret = "fixture-signing-secret"

// fixtureTime is when the webhook fixture was sent (its signed timestamp).
func fixtureTime(t testing.TB, f fixture) time.Time {
	t.Helper()
	ms, err := strconv.ParseInt(f.header("X-Statsig-Request-Timestamp"), 10, 64)
	if err != nil {
		t.Fatalf("%s: timestamp: %v", f.Name, err)
	}
	return time.UnixMilli(ms)
}

func TestWebhookAcceptsSignedFixtures(t *testing.T) {
	t.Parallel() // a log and server of its own
	batches := loadFixtures(t, "webhook")
	if len(batches) != 2 {
		t.Fatalf("found %d webhook fixtures, want 2", len(batches))
	}
	for _, f := range batches {
		t.Run(f.Name, func(t *testing.T) {
			sent := fixtureTime(t, f)
			in := startIntake(t, server.Config{
				WebhookSecret: fixtureSecret,
				Now:           func() time.Time { return sent.Add(2 * time.Second) },
			}, queue.Config{})
			n := f.decodedEvents(t)
			a := do(t, f.request(t, in.URL))
			if a.Code != http.StatusAccepted || !a.Success || a.Accepted != n || a.Rejected != 0 {
				t.Fatalf("%d %s, want 202 with %d accepted", a.Code, a.Raw, n)
			}
			got := readLog(t, in.Log, 1)[0].Batch
			if got.Source != statsig.SourceWebhook || len(got.Events) != n {
				t.Errorf("stored source %q with %d events, want webhook with %d", got.Source, len(got.Events), n)
			}
			if got.ReceivedAt != sent.Add(2*time.Second).UnixMilli() {
				t.Errorf("receivedAt %d, want the injected clock %d", got.ReceivedAt, sent.Add(2*time.Second).UnixMilli())
			}
			for _, e := range got.Events {
				if e.TimeUUID == "" || e.ID != e.TimeUUID {
					t.Errorf("event %s: id %q, want its timeUUID %q", e.EventName, e.ID, e.TimeUUID)
				}
			}
		})
	}
}

func TestWebhookRefusals(t *testing.T) {
	t.Parallel() // a log and server of its own
	f := readFixture(t, "webhook", "batch-1")
	sent := fixtureTime(t, f)
	justAfter := func() time.Time { return sent.Add(2 * time.Second) }

	t.Run("stale with the real clock", func(t *testing.T) {
		in := startIntake(t, server.Config{WebhookSecret: fixtureSecret}, queue.Config{})
		for _, g := range loadFixtures(t, "webhook") {
			a := do(t, g.request(t, in.URL))
			if a.Code != http.StatusUnauthorized || !strings.Contains(a.Error, "X-Statsig-Request-Timestamp") ||
				!strings.Contains(a.Error, "too far from now") {
				t.Errorf("%s with the real clock: %d %s, want 401 naming a stale timestamp", g.Name, a.Code, a.Raw)
			}
		}
		readLog(t, in.Log, 0)
	})
	t.Run("tampered body", func(t *testing.T) {
		in := startIntake(t, server.Config{WebhookSecret: fixtureSecret, Now: justAfter}, queue.Config{})
		body := bytes.Replace(f.Body, []byte(`"gateValue":"true"`), []byte(`"gateValue":"false"`), 1)
		if bytes.Equal(body, f.Body) {
			t.Fatal("tampering changed nothing")
		}
		a := do(t, f.requestWithBody(t, in.URL, body))
		if a.Code != http.StatusUnauthorized || !strings.Contains(a.Error, "does not match") {
			t.Errorf("tampered body: %d %s, want 401 signature mismatch", a.Code, a.Raw)
		}
		readLog(t, in.Log, 0)
	})
	t.Run("wrong secret", func(t *testing.T) {
		in := startIntake(t, server.Config{WebhookSecret: "another-secret", Now: justAfter}, queue.Config{})
		a := do(t, f.request(t, in.URL))
		if a.Code != http.StatusUnauthorized || strings.Contains(a.Raw, "another-secret") {
			t.Errorf("wrong secret: %d %s, want 401 without the secret", a.Code, a.Raw)
		}
		readLog(t, in.Log, 0)
	})
	t.Run("signature headers missing", func(t *testing.T) {
		in := startIntake(t, server.Config{WebhookSecret: fixtureSecret, Now: justAfter}, queue.Config{})
		a := do(t, post(t, in.URL+"/webhooks/statsig", f.Body, map[string]string{"Content-Type": "application/json"}))
		if a.Code != http.StatusUnauthorized || !strings.Contains(a.Error, "X-Statsig-Signature") {
			t.Errorf("unsigned: %d %s, want 401 naming the missing header", a.Code, a.Raw)
		}
	})
	t.Run("no secret configured", func(t *testing.T) {
		in := startIntake(t, server.Config{AllowAnyKey: true, Now: justAfter}, queue.Config{})
		a := do(t, f.request(t, in.URL))
		if a.Code != http.StatusServiceUnavailable || !strings.Contains(a.Error, "STATSIG_WEBHOOK_SECRET") {
			t.Errorf("no secret: %d %s, want 503 saying to set STATSIG_WEBHOOK_SECRET", a.Code, a.Raw)
		}
		readLog(t, in.Log, 0)
	})
	t.Run("a signed request of our own is accepted", func(t *testing.T) {
		// Sign proves VerifySignature's inverse: sign a fresh body now.
		in := startIntake(t, server.Config{WebhookSecret: "s3cret"}, queue.Config{})
		body := []byte(`[{"eventName":"page_view","userID":"u1","timestamp":"1795534352070"}]`)
		ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
		a := do(t, post(t, in.URL+"/webhooks/statsig", body, map[string]string{
			"X-Statsig-Request-Timestamp": ts,
			"X-Statsig-Signature":         statsig.Sign([]byte("s3cret"), ts, body),
		}))
		if a.Code != http.StatusAccepted || a.Accepted != 1 {
			t.Errorf("freshly signed: %d %s, want 202", a.Code, a.Raw)
		}
	})
}
