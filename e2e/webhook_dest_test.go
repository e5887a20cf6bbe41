package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/config"
	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/queue"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// hookReceiver is a webhook endpoint: it verifies each request's signature
// with Statsig's verification code and records the batches it accepted.
type hookReceiver struct {
	*httptest.Server
	secret string

	mu        sync.Mutex
	requests  []hookRequest
	delivered map[string][]map[string]any // messageId → copies received in 2xx answers
	answer    func(batch []map[string]any, n int) (int, http.Header)
}

type hookRequest struct {
	Code   int
	Header http.Header
	Body   []byte
	Names  []string
	// SigErr is statsig.VerifySignature's verdict with the receiver's secret.
	SigErr error
}

func newHookReceiver(t *testing.T, secret string) *hookReceiver {
	h := &hookReceiver{secret: secret, delivered: map[string][]map[string]any{}}
	h.Server = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.Close)
	return h
}

// Answer sets how the receiver answers a batch (n counts requests from 0).
func (h *hookReceiver) Answer(f func(batch []map[string]any, n int) (int, http.Header)) {
	h.mu.Lock()
	h.answer = f
	h.mu.Unlock()
}

func (h *hookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var env struct {
		Batch  []map[string]any `json:"batch"`
		SentAt string           `json:"sentAt"`
	}
	_ = json.Unmarshal(body, &env)
	req := hookRequest{Header: r.Header.Clone(), Body: body, Code: http.StatusOK}
	for _, m := range env.Batch {
		name, _ := m["event"].(string)
		req.Names = append(req.Names, name)
	}
	if h.secret != "" {
		req.SigErr = statsig.VerifySignature([]byte(h.secret), r.Header.Get("X-Statsig-Request-Timestamp"),
			r.Header.Get("X-Statsig-Signature"), body, time.Now(), time.Minute)
	}
	h.mu.Lock()
	n := len(h.requests)
	answer := h.answer
	h.mu.Unlock()
	var hdr http.Header
	switch {
	case req.SigErr != nil:
		req.Code = http.StatusUnauthorized
	case answer != nil:
		req.Code, hdr = answer(env.Batch, n)
	}
	h.mu.Lock()
	h.requests = append(h.requests, req)
	if req.Code/100 == 2 {
		for _, m := range env.Batch {
			id, _ := m["messageId"].(string)
			h.delivered[id] = append(h.delivered[id], m)
		}
	}
	h.mu.Unlock()
	for k, v := range hdr {
		w.Header()[k] = v
	}
	w.WriteHeader(req.Code)
}

func (h *hookReceiver) Requests() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.requests...)
}

// Delivered returns the messages received, one per messageId, and the
// number of messageIds received more than once.
func (h *hookReceiver) Delivered() (map[string]map[string]any, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out, dups := map[string]map[string]any{}, 0
	for id, copies := range h.delivered {
		out[id] = copies[0]
		if len(copies) > 1 {
			dups++
		}
	}
	return out, dups
}

// testDelivery is the delivery section of test destinations: short
// flushes and backoffs.
const testDelivery = `
    delivery:
      flush_interval: 100ms
      retry: {initial: 20ms, max: 200ms, pause_probe: 200ms}
`

// bridgeFromYAML starts a bridge from a config file whose destinations
// are the given YAML list items (each starting "  - name: …").
func bridgeFromYAML(t *testing.T, destinations ...string) *bridge {
	t.Helper()
	dir := t.TempDir()
	doc := fmt.Sprintf("listen: 127.0.0.1:0\ndata_dir: %s\ndestinations:\n%s", filepath.Join(dir, "data"), strings.Join(destinations, ""))
	path := filepath.Join(dir, "bridge.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, func(string) string { return "" })
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	return startBridge(t, cfg)
}

// webhookYAML is a webhook destination's YAML with the test delivery.
func webhookYAML(name, url, secret, mappingYAML string) string {
	s := fmt.Sprintf("  - name: %s\n    type: webhook\n    webhook: {url: %q, secret: %q, timeout: 5s}\n", name, url, secret)
	if mappingYAML != "" {
		s += "    mapping: " + mappingYAML + "\n"
	}
	return s + testDelivery[1:]
}

// deadLetters stops the bridge and reads destination's dead letters from
// its log.
func deadLetters(t *testing.T, b *bridge, dest string) []destination.DeadLetter {
	t.Helper()
	b.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := queue.Open(ctx, queue.Config{DataDir: b.Cfg.DataDir}, testLogger(t))
	if err != nil {
		t.Fatalf("reopening the log: %v", err)
	}
	defer l.Close()
	raw, err := l.DeadLetters(ctx, dest, 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]destination.DeadLetter, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal(r, &out[i]); err != nil {
			t.Fatalf("dead letter %d: %v", i, err)
		}
	}
	return out
}

// TestWebhookSignedLikeStatsig: every request verifies with
// statsig.VerifySignature and the configured secret, and not with another.
func TestWebhookSignedLikeStatsig(t *testing.T) {
	parallel(t)
	const secret = "whsec-bridge-e2e-0001"
	h := newHookReceiver(t, secret)
	b := bridgeFromYAML(t, webhookYAML("hook", h.URL+"/in?token=t0k3n", secret, ""))
	if resp := fixtureRequest(t, b.URL, "go-sdk", "log_event-1"); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("intake answered %d", resp.StatusCode)
	}
	testwait.For(t, 10*time.Second, "32 messages at the webhook", func() bool { d, _ := h.Delivered(); return len(d) == 32 })
	for i, r := range h.Requests() {
		if r.SigErr != nil {
			t.Errorf("request %d: signature does not verify: %v", i, r.SigErr)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("request %d: Content-Type %q", i, ct)
		}
		err := statsig.VerifySignature([]byte("whsec-some-other-secret"), r.Header.Get("X-Statsig-Request-Timestamp"),
			r.Header.Get("X-Statsig-Signature"), r.Body, time.Now(), time.Hour)
		if !errors.Is(err, statsig.ErrSignatureMismatch) {
			t.Errorf("request %d verifies with a wrong secret: %v", i, err)
		}
	}
}

// TestWebhookRetriesThenDeliversOnce: the receiver answers 503 (once with
// Retry-After) before accepting; every event arrives exactly once.
func TestWebhookRetriesThenDeliversOnce(t *testing.T) {
	parallel(t)
	h := newHookReceiver(t, "")
	h.Answer(func(_ []map[string]any, n int) (int, http.Header) {
		switch n {
		case 0:
			return http.StatusServiceUnavailable, http.Header{"Retry-After": {"1"}}
		case 1, 2:
			return http.StatusServiceUnavailable, nil
		}
		return http.StatusOK, nil
	})
	b := bridgeFromYAML(t, webhookYAML("hook", h.URL, "", ""))
	sent := postLoad(t, b.URL, 3, 50)
	testwait.For(t, 15*time.Second, "150 messages at the webhook", func() bool { d, _ := h.Delivered(); return len(d) == len(sent) })
	d, dups := h.Delivered()
	if dups != 0 {
		t.Errorf("%d events delivered more than once", dups)
	}
	seen := map[string]bool{}
	for _, m := range d {
		seen[seqOf(m)] = true
	}
	for seq := range sent {
		if !seen[seq] {
			t.Errorf("event %s never delivered", seq)
		}
	}
	reqs := h.Requests()
	if reqs[0].Code != http.StatusServiceUnavailable || reqs[1].Code != http.StatusServiceUnavailable {
		t.Fatalf("the receiver did not fail first: %v", reqs[0].Code)
	}
	if n := deadLettered(t, b.URL); n != 0 {
		t.Errorf("%v events dead-lettered during a transient outage", n)
	}
	if v, _ := metric(t, b.URL, `statsig_bridge_retried_batches_total{destination="hook"}`); v < 1 {
		t.Errorf("retried batches %v, want ≥ 1", v)
	}
}

// TestWebhookPoisonEventDeadLettered: the receiver refuses (400) any batch
// holding one particular event; the bridge bisects, delivers the rest and
// dead-letters only that event.
func TestWebhookPoisonEventDeadLettered(t *testing.T) {
	parallel(t)
	h := newHookReceiver(t, "")
	h.Answer(func(batch []map[string]any, _ int) (int, http.Header) {
		for _, m := range batch {
			if seqOf(m) == "0-0-13" {
				return http.StatusBadRequest, nil
			}
		}
		return http.StatusOK, nil
	})
	b := bridgeFromYAML(t, webhookYAML("hook", h.URL, "", ""))
	sent := postLoad(t, b.URL, 1, 40)
	testwait.For(t, 15*time.Second, "39 messages delivered and 1 dead-lettered", func() bool {
		d, _ := h.Delivered()
		return len(d) == len(sent)-1 && deadLettered(t, b.URL) == 1
	})
	if _, dups := h.Delivered(); dups != 0 {
		t.Errorf("%d events delivered more than once", dups)
	}
	dls := deadLetters(t, b, "hook")
	if len(dls) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dls))
	}
	dl := dls[0]
	if dl.Reason != "rejected_by_destination" || dl.Event == nil || !strings.Contains(string(dl.Event.Metadata), `"0-0-13"`) {
		t.Errorf("dead letter %s for %+v, want the poison event rejected_by_destination", dl.Reason, dl.Event)
	}
	if !strings.Contains(string(dl.Payload), `"messageId"`) {
		t.Errorf("dead letter keeps no payload: %s", dl.Payload)
	}
	if dl.Status != http.StatusBadRequest || !strings.HasPrefix(dl.Detail, "HTTP 400") {
		t.Errorf("dead letter status %d detail %q, want the receiver's 400 kept (Segment check 20)", dl.Status, dl.Detail)
	}
}

// TestWebhookFilterAndMappingPerDestination: two webhooks in one bridge,
// each with its own filter and mapping.
func TestWebhookFilterAndMappingPerDestination(t *testing.T) {
	parallel(t)
	hA, hB := newHookReceiver(t, ""), newHookReceiver(t, "")
	b := bridgeFromYAML(t,
		webhookYAML("hookA", hA.URL, "", `{types: [custom, gate_exposure], exclude: ["page_*"], user_id: [customIDs.companyID, userID], email: hash}`),
		webhookYAML("hookB", hB.URL, "", ""))
	if resp := fixtureRequest(t, b.URL, "go-sdk-layers", "log_event-2"); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("intake answered %d", resp.StatusCode)
	}
	// What each should get, from the capture itself.
	raw, err := os.ReadFile(filepath.Join(fixtures, "go-sdk-layers", "log_event-2.json"))
	if err != nil {
		t.Fatal(err)
	}
	var req struct {
		Events []struct {
			EventName string `json:"eventName"`
			User      struct {
				UserID    string            `json:"userID"`
				CustomIDs map[string]string `json:"customIDs"`
			} `json:"user"`
		} `json:"events"`
	}
	if err := json.Unmarshal(raw, &req); err != nil {
		t.Fatal(err)
	}
	// hookB (user_id: userID, anonymous_id: stableID) cannot send the
	// events of a user known only by companyID: Segment needs an ID, so they
	// are dead-lettered there; hookA sends them with the companyID.
	wantA, wantB, wantBDead := 0, 0, 0
	companyOf := map[string]string{} // userID → companyID
	companyOnly := map[string]bool{}
	for _, e := range req.Events {
		c := e.User.CustomIDs["companyID"]
		if c != "" && e.User.UserID != "" {
			companyOf[e.User.UserID] = c
		}
		noID := e.User.UserID == "" && e.User.CustomIDs["stableID"] == ""
		if noID {
			companyOnly[c] = true
		}
		k := statsig.KindOf(e.EventName)
		if (k == statsig.KindCustom || k == statsig.KindGate) && !strings.HasPrefix(e.EventName, "page_") {
			wantA++
		}
		switch {
		case k == statsig.KindInternal:
		case noID:
			wantBDead++
		default:
			wantB++
		}
	}
	if wantBDead == 0 || companyOnly[""] {
		t.Fatalf("fixture changed: want events of a user known only by companyID (%d)", wantBDead)
	}
	testwait.For(t, 15*time.Second, fmt.Sprintf("%d messages at hookA, %d at hookB and %d dead-lettered", wantA, wantB, wantBDead), func() bool {
		da, _ := hA.Delivered()
		db, _ := hB.Delivered()
		return len(da) >= wantA && len(db) >= wantB && deadLettered(t, b.URL) >= float64(wantBDead)
	})
	da, _ := hA.Delivered()
	db, _ := hB.Delivered()
	if len(da) != wantA || len(db) != wantB {
		t.Fatalf("hookA got %d messages (want %d), hookB %d (want %d)", len(da), wantA, len(db), wantB)
	}
	if v, _ := metric(t, b.URL, `statsig_bridge_dead_lettered_events_total{destination="hookB",reason="no_user_anon_id"}`); v != float64(wantBDead) {
		t.Errorf("hookB dead-lettered %v events without an ID, want %d", v, wantBDead)
	}
	if v := deadLettered(t, b.URL); v != float64(wantBDead) {
		t.Errorf("%v events dead-lettered in all, want %d (hookB's)", v, wantBDead)
	}
	companyIDs := 0
	for id, ma := range da {
		name, _ := ma["event"].(string)
		if k := statsig.KindOf(name); (k != statsig.KindCustom && k != statsig.KindGate) || strings.HasPrefix(name, "page_") {
			t.Errorf("hookA got %s, which its filter leaves out", name)
		}
		mb, ok := db[id]
		if !ok {
			if u, _ := ma["userId"].(string); !companyOnly[u] {
				t.Errorf("hookB lacks %s (%s, userId %s), which its default filter sends", id, name, u)
			}
			continue
		}
		traitsA := traitsOf(ma)
		traitsB := traitsOf(mb)
		if _, ok := traitsA["email"]; ok {
			t.Errorf("hookA (email: hash) got a plain email: %v", traitsA)
		}
		if email, _ := traitsB["email"].(string); email != "" {
			sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
			if traitsA["email_sha256"] != hex.EncodeToString(sum[:]) {
				t.Errorf("hookA email_sha256 %v, want the SHA-256 of %s", traitsA["email_sha256"], email)
			}
		}
		userID, _ := mb["userId"].(string)
		want := userID
		if c := companyOf[userID]; c != "" {
			want = c
			companyIDs++
		}
		if u, _ := ma["userId"].(string); u != want {
			t.Errorf("%s: hookA userId %q, want %q (hookB's %q)", name, u, want, userID)
		}
	}
	if companyIDs == 0 {
		t.Error("hookA's user_id (customIDs.companyID first) never differed from hookB's userID")
	}
	t.Logf("hookA %d messages (%d with the companyID as userId), hookB %d", len(da), companyIDs, len(db))
}

func traitsOf(m map[string]any) map[string]any {
	ctx, _ := m["context"].(map[string]any)
	traits, _ := ctx["traits"].(map[string]any)
	if traits == nil {
		return map[string]any{}
	}
	return traits
}

// seqOf returns the e2e marker of a message made from sdkBody's events.
func seqOf(m map[string]any) string {
	props, _ := m["properties"].(map[string]any)
	md, _ := props["metadata"].(map[string]any)
	seq, _ := md["seq"].(string)
	return seq
}
