package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// The browser tests open the debugger of a bridge started by the test in a
// real headless Chromium and check what a user sees: events arriving in the
// live view, Pause and Live, search, an event's Raw and Out views, and the
// delivery counts moving through a destination outage and a poison event.
// With BRIDGE_SCREENSHOTS=1 they also write docs/screenshots/*.png.

// screenshotDir is where BRIDGE_SCREENSHOTS=1 writes the README's images.
var screenshotDir = filepath.Join("..", "docs", "screenshots")

const (
	shotWidth, shotHeight = 1400, 900
	uiWait                = 10 * time.Second // longest wait for the page to show something
)

// btEvent is one SDK event of the browser tests.
type btEvent struct {
	name, userID, stableID string
	value                  any
	metadata               map[string]string
}

// sdkRequest is a Go-SDK-shaped /v1/log_event body; session keeps two
// requests with the same events apart (the log drops exact duplicates).
func sdkRequest(session string, events ...btEvent) []byte {
	now := time.Now().UnixMilli()
	type user struct {
		UserID    string            `json:"userID"`
		Email     string            `json:"email,omitempty"`
		Country   string            `json:"country,omitempty"`
		CustomIDs map[string]string `json:"customIDs,omitempty"`
	}
	type event struct {
		EventName string            `json:"eventName"`
		User      user              `json:"user"`
		Value     any               `json:"value"`
		Time      int64             `json:"time"`
		Metadata  map[string]string `json:"metadata"`
	}
	out := make([]event, len(events))
	for i, e := range events {
		u := user{UserID: e.userID, CustomIDs: map[string]string{"stableID": e.stableID}}
		if e.userID != "" {
			u.Email = e.userID + "@example.com"
			u.Country = "DE"
		}
		out[i] = event{EventName: e.name, User: u, Value: e.value, Time: now - int64(len(events)-i), Metadata: e.metadata}
	}
	body, _ := json.Marshal(map[string]any{
		"events":          out,
		"statsigMetadata": map[string]string{"sdkType": "go-sdk", "sdkVersion": "v1.35.1", "sessionID": session},
	})
	return body
}

// openDebugger starts a browser on the bridge's debugger at route (#/live…)
// with a 1400×900 viewport and waits for the page's script to run.
func openDebugger(t *testing.T, b *bridge, route string) context.Context {
	t.Helper()
	ctx := newTab(t)
	page(t, ctx, "opening the debugger", 20*time.Second,
		chromedp.EmulateViewport(shotWidth, shotHeight),
		chromedp.Navigate(b.URL+"/"+route),
	)
	return ctx
}

// goTo switches the single-page app to another route.
func goTo(t *testing.T, ctx context.Context, route string) {
	t.Helper()
	eval[chromedp.Void](t, ctx, fmt.Sprintf(`void (location.hash = %s)`, jsString(route)))
}

// screenshot writes the viewport to docs/screenshots/<name>.png when
// BRIDGE_SCREENSHOTS=1.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if os.Getenv("BRIDGE_SCREENSHOTS") != "1" {
		return
	}
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	// Let the page finish what it is painting (fonts, chart) first.
	if _, err := chromedp.Run(tctx, chromedp.Evaluate[chromedp.Void](
		`new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r())))`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("waiting for a frame: %v", err)
	}
	png, err := chromedp.Run(tctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(screenshotDir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}

// reasonJS is true when the segment card lists that delivery issue (and
// its row's text contains text).
func reasonJS(reason, text string) string {
	return fmt.Sprintf(`Array.from(document.querySelectorAll('[data-testid="delivery-card"][data-destination="segment"] [data-testid="reason-row"]'))
		.some(r => r.dataset.reason === %s && r.innerText.includes(%s))`, jsString(reason), jsString(text))
}

// deliveryRefresh is how often the Delivery view reloads by itself
// (REFRESH_MS in internal/debugger/ui/delivery.js).
const deliveryRefresh = 3 * time.Second

// refreshDeliveryEvery makes the open Delivery view reload its statistics
// every interval instead of every 3 s: the view's own load, on a timer the
// view owns (hide clears it; show sets its own again). The answer of a
// load already under way is dropped (the view renders only its latest),
// so nothing is redrawn before the next tick.
func refreshDeliveryEvery(t *testing.T, ctx context.Context, interval time.Duration) {
	t.Helper()
	eval[chromedp.Void](t, ctx, fmt.Sprintf(`void ((v) => {
		v.seq++;
		clearInterval(v.timer);
		v.timer = setInterval(() => { if (!document.hidden) v.load(); }, %d);
	})(window.__debugger.views.delivery)`, interval.Milliseconds()))
}

// clickRow opens the event of that name in the live view, scrolling the
// list to it first as a user would (rows out of view are not in the DOM).
func clickRow(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	row := testid("event-row") + `[data-event-name=` + jsString(name) + `]`
	// The list draws only the rows in view. Scrolled to the row's place at
	// every poll, not once: the list may still be redrawn or grow between
	// one scroll and the drawing of its rows (a scroll made once left the
	// row undrawn and the click waiting for it).
	waitPage(t, ctx, uiWait, name+" drawn in the list", fmt.Sprintf(`((v, name, row) => {
		const i = v.list.findIndex(s => s.eventName === name);
		if (i < 0) return false;
		const top = Math.max(0, (i - 2) * v.rowH);
		if (v.scroller.scrollTop !== top) v.scroller.scrollTop = top;
		return document.querySelector(row) !== null;
	})(window.__debugger.views.live, %s, %s)`, jsString(name), jsString(row)))
	page(t, ctx, "opening "+name, uiWait, chromedp.Click(row, chromedp.NodeVisible))
}

// typeInto types into an empty input as a user would (key events).
func typeInto(t *testing.T, ctx context.Context, id, text string) {
	t.Helper()
	page(t, ctx, "typing into "+id, uiWait, chromedp.SendKeys(testid(id), text))
}

// clearFilters presses the live view's Clear button.
func clearFilters(t *testing.T, ctx context.Context) {
	t.Helper()
	page(t, ctx, "clearing the filters", uiWait, chromedp.Click(testid("filter-clear"), chromedp.NodeVisible))
}

// selectOption chooses a value of a <select> and tells the page.
func selectOption(t *testing.T, ctx context.Context, id, value string) {
	t.Helper()
	eval[chromedp.Void](t, ctx, fmt.Sprintf(`void ((s) => { s.value = %s; s.dispatchEvent(new Event("change", {bubbles: true})); })(document.querySelector(%s))`,
		jsString(value), jsString(testid(id))))
}

func TestBrowserLiveView(t *testing.T) {
	parallelLong(t)
	chromiumPath(t)
	s := newSink(t)
	b := startBridge(t, testConfig(t, s.URL))
	ctx := openDebugger(t, b, "#/live")
	page(t, ctx, "waiting for the live view", uiWait, chromedp.WaitVisible(testid("live-toggle")))

	// Events arrive in the list as they are sent.
	mustPost(t, b.URL, sdkRequest("live-1",
		btEvent{name: "bt_signup", userID: "user-ada", stableID: "stable-ada", metadata: map[string]string{"plan": "pro", "source": "landing"}},
		btEvent{name: "bt_purchase", userID: "user-grace", stableID: "stable-grace", value: 49.5, metadata: map[string]string{"coupon": "ZEBRA-7731", "items": "3"}},
		btEvent{name: "bt_search", stableID: "stable-anon-1", value: "running shoes", metadata: map[string]string{"results": "42"}},
	))
	for _, n := range []string{"bt_signup", "bt_purchase", "bt_search"} {
		waitRows(t, ctx, uiWait, n, 1)
	}
	// Real SDK traffic too (Go SDK with layers, JS client, Rust-core Node).
	for _, f := range []struct{ dir, name string }{{"go-sdk-layers", "log_event-2"}, {"js-client", "rgstr-1"}, {"node-core", "log_event-1"}} {
		if resp := fixtureRequest(t, b.URL, f.dir, f.name); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("%s/%s: %d", f.dir, f.name, resp.StatusCode)
		}
	}
	waitRows(t, ctx, uiWait, "statsig::layer_exposure", -1)
	screenshot(t, ctx, "live")

	// Pause: new events are counted, the list stays as it is.
	page(t, ctx, "pausing", uiWait, chromedp.Click(testid("live-toggle"), chromedp.NodeVisible))
	before := rowNames(t, ctx)
	mustPost(t, b.URL, sdkRequest("live-2",
		btEvent{name: "bt_while_paused", userID: "user-ada", stableID: "stable-ada", metadata: map[string]string{"step": "1"}},
		btEvent{name: "bt_while_paused", userID: "user-ada", stableID: "stable-ada", metadata: map[string]string{"step": "2"}},
	))
	// Fixture events received but not drawn yet when the click landed are
	// held (and counted) too, and under load some of them still arrive
	// after the click: the counter shows every held event, the two sent
	// during the pause among them.
	waitPage(t, ctx, uiWait, "the paused counter to show the held events, the two sent while paused among them",
		`(() => { const v = window.__debugger.views.live, c = document.querySelector('[data-testid="paused-count"]');
		  const mine = v.held.filter(s => s.eventName === "bt_while_paused").length;
		  return c && !c.hidden && mine === 2 && v.heldCount >= 2 && c.dataset.count === String(v.heldCount) &&
		    new RegExp("\\b" + v.heldCount.toLocaleString("en-US") + "\\b").test(c.innerText); })()`)
	if after := rowNames(t, ctx); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("the list changed while paused:\nbefore %v\nafter  %v", before, after)
	}

	// Live again: the events sent during the pause are in the list.
	page(t, ctx, "resuming", uiWait, chromedp.Click(testid("live-toggle"), chromedp.NodeVisible))
	waitRows(t, ctx, uiWait, "bt_while_paused", 2)

	// Search over the raw payload: a metadata value only one event has.
	typeInto(t, ctx, "search", "ZEBRA-7731")
	waitPage(t, ctx, uiWait, "only bt_purchase to match ZEBRA-7731",
		rowNamesJS+`.join(",") === "bt_purchase"`)
	clearFilters(t, ctx)
	waitRows(t, ctx, uiWait, "bt_signup", 1)
	// Property values only (Segment conformance check 52): bt_signup's
	// metadata holds "landing" as a value; "coupon" is only a name (of
	// bt_purchase's metadata), so the raw search finds it and this does not.
	typeInto(t, ctx, "filter-value", "landing")
	waitPage(t, ctx, uiWait, "only bt_signup to have the property value landing", rowNamesJS+`.join(",") === "bt_signup"`)
	// AND with Allowed (the sink takes it), then with Blocked: nothing.
	selectOption(t, ctx, "filter-status", "allowed")
	waitPage(t, ctx, uiWait, "bt_signup still listed as allowed", rowNamesJS+`.join(",") === "bt_signup"`)
	selectOption(t, ctx, "filter-status", "blocked")
	waitPage(t, ctx, uiWait, "no blocked event with the value landing",
		rowNamesJS+`.length === 0 && !document.querySelector('[data-testid="live-empty"]').hidden`)
	clearFilters(t, ctx)
	typeInto(t, ctx, "filter-value", "coupon")
	waitPage(t, ctx, uiWait, "no event with the property value coupon",
		rowNamesJS+`.length === 0 && !document.querySelector('[data-testid="live-empty"]').hidden`)
	clearFilters(t, ctx)
	waitRows(t, ctx, uiWait, "bt_signup", 1)
	// Filter by user: the stableID of the anonymous search.
	typeInto(t, ctx, "filter-user", "stable-anon-1")
	waitPage(t, ctx, uiWait, "only bt_search for user stable-anon-1", rowNamesJS+`.join(",") === "bt_search"`)
	clearFilters(t, ctx)
	// Filter by type: only gate exposures (the fixtures have some).
	selectOption(t, ctx, "filter-type", "gate_exposure")
	waitPage(t, ctx, uiWait, "only gate exposures", `(() => {
		const rows = Array.from(document.querySelectorAll('[data-testid="event-row"]'));
		return rows.length > 0 && rows.every(r => r.dataset.kind === "gate_exposure" && r.dataset.eventName === "statsig::gate_exposure"); })()`)
	clearFilters(t, ctx)
	waitRows(t, ctx, uiWait, "bt_signup", 1)

	// Open one: Raw is what the SDK sent, Out the Segment message.
	testwait.For(t, uiWait, "bt_purchase at the sink", func() bool {
		for _, m := range s.Messages() {
			if m["event"] == "bt_purchase" {
				return true
			}
		}
		return false
	})
	clickRow(t, ctx, "bt_purchase")
	page(t, ctx, "the event's detail", uiWait, chromedp.WaitVisible(testid("event-detail")))
	page(t, ctx, "the Raw tab", uiWait, chromedp.Click(testid("tab-raw"), chromedp.NodeVisible), chromedp.WaitVisible(testid("raw-json")))
	waitPage(t, ctx, uiWait, "the raw JSON with the event name and its coupon",
		fmt.Sprintf(`((document.querySelector('[data-testid="raw-json"]') || {}).innerText || "").includes(%s) &&
		 document.querySelector('[data-testid="raw-json"]').innerText.includes(%s)`, jsString(`"bt_purchase"`), jsString(`"ZEBRA-7731"`)))
	screenshot(t, ctx, "event-raw")
	page(t, ctx, "the Out tab", uiWait, chromedp.Click(testid("tab-out"), chromedp.NodeVisible), chromedp.WaitVisible(testid("out-json")))
	waitPage(t, ctx, uiWait, "the Segment message with its messageId and event name",
		`(() => { const t = Array.from(document.querySelectorAll('[data-testid="out-json"]')).map(e => e.innerText).join("\n");
		  return t.includes('"messageId"') && t.includes('"bt_purchase"') && t.includes('"ZEBRA-7731"'); })()`)
	screenshot(t, ctx, "event-out")
	// Pretty (Segment conformance check 53): the message as the library
	// call that would have sent it, user, event and properties.
	page(t, ctx, "the Pretty tab", uiWait, chromedp.Click(testid("tab-pretty"), chromedp.NodeVisible), chromedp.WaitVisible(testid("pretty-code")))
	waitPage(t, ctx, uiWait, "analytics.track for user-grace's bt_purchase with its coupon",
		`Array.from(document.querySelectorAll('[data-testid="pretty-code"]')).some(e =>
		  /^analytics\.track\(["']user-grace["'], ["']bt_purchase["'], \{/.test(e.innerText) && e.innerText.includes("ZEBRA-7731"))`)
}

func TestBrowserDeliveryView(t *testing.T) {
	parallelLong(t)
	chromiumPath(t)
	s := newSink(t)
	var outage atomic.Bool
	s.Respond(func(*http.Request, int) (int, http.Header) {
		if outage.Load() {
			return http.StatusServiceUnavailable, nil
		}
		return http.StatusOK, nil
	})
	// In front of the sink: a batch with the poison event is refused with a
	// 400 and a reason, as Segment refuses a message it cannot accept.
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !outage.Load() && bytes.Contains(body, []byte(`"bt_poison"`)) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"success":false,"message":"bt_poison: refused by the test's Segment sink"}`)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.serve(w, r)
	}))
	t.Cleanup(front.Close)
	b := startBridge(t, testConfig(t, front.URL))
	ctx := openDebugger(t, b, "#/delivery")
	card := testid("delivery-card") + `[data-destination="segment"]`
	page(t, ctx, "the segment destination's card", uiWait, chromedp.WaitVisible(card))

	// Deliveries are counted.
	var batch []btEvent
	for i := range 10 {
		batch = append(batch, btEvent{name: "bt_delivered", userID: fmt.Sprintf("user-%d", i), stableID: fmt.Sprintf("stable-%d", i), value: i})
	}
	mustPost(t, b.URL, sdkRequest("delivery-1", batch...))
	testwait.For(t, uiWait, "10 messages at the sink", func() bool { return s.Unique() >= 10 })
	// The page refreshes itself (every 3 s): the first counts come that way.
	waitPage(t, ctx, uiWait, "10 delivered in the card", countJS("segment", "count-delivered")+" >= 10")
	// From here on it reloads the same way every 100 ms, so that each wait
	// below ends when the bridge has the counts, not at the next 3 s tick.
	refreshDeliveryEvery(t, ctx, 100*time.Millisecond)

	// An outage: Segment answers 503, events are retried, not lost.
	outage.Store(true)
	batch = batch[:0]
	for i := range 5 {
		batch = append(batch, btEvent{name: "bt_during_outage", userID: fmt.Sprintf("user-%d", i), stableID: fmt.Sprintf("stable-%d", i), value: i})
	}
	mustPost(t, b.URL, sdkRequest("delivery-2", batch...))
	waitPage(t, ctx, uiWait, "the card to show events retrying", countJS("segment", "count-retrying")+" > 0")
	delivered := countIn(t, ctx, "segment", "count-delivered")
	if delivered != 10 {
		t.Fatalf("delivered %d during the outage, want the 10 from before", delivered)
	}
	outage.Store(false)
	waitPage(t, ctx, uiWait, "15 delivered after the outage", countJS("segment", "count-delivered")+" === 15")
	waitPage(t, ctx, uiWait, "no event retrying after the outage", countJS("segment", "count-retrying")+" === 0")
	if n := countIn(t, ctx, "segment", "count-delivered-retry"); n < 5 {
		t.Errorf("%d delivered on retry, want the 5 sent during the outage", n)
	}
	waitPage(t, ctx, uiWait, "the 503s among the delivery issues", reasonJS("http_503", "503"))

	// A poison event: Segment refuses it with 400; it alone is dead-lettered.
	mustPost(t, b.URL, sdkRequest("delivery-3",
		btEvent{name: "bt_after_outage", userID: "user-1", stableID: "stable-1"},
		btEvent{name: "bt_poison", userID: "user-2", stableID: "stable-2", metadata: map[string]string{"why": "refused by Segment"}},
		btEvent{name: "bt_after_outage", userID: "user-3", stableID: "stable-3"},
	))
	waitPage(t, ctx, uiWait, "1 dead-lettered", countJS("segment", "count-dead-lettered")+" === 1")
	waitPage(t, ctx, uiWait, "17 delivered around the poison event", countJS("segment", "count-delivered")+" === 17")
	waitPage(t, ctx, uiWait, "the dead letter's reason in the card", reasonJS("rejected_by_destination", ""))
	// Its sample is the refused event. Back to the page's own cadence
	// first: a reload redraws the reason rows, and a row redrawn between
	// finding it and clicking it is a click on nothing.
	refreshDeliveryEvery(t, ctx, deliveryRefresh)
	page(t, ctx, "opening the dead letter's reason", uiWait,
		chromedp.Click(testid("reason-row")+`[data-reason="rejected_by_destination"]`, chromedp.NodeVisible))
	waitPage(t, ctx, uiWait, "the refused event in the reason's sample",
		`Array.from(document.querySelectorAll('[data-testid="reason-sample"]')).some(e => e.innerText.includes("bt_poison"))`)
	// The last 10 minutes in 10 s buckets: the same counts.
	page(t, ctx, "the 10-minute window", uiWait, chromedp.Click(testid("window-10m"), chromedp.NodeVisible))
	waitPage(t, ctx, uiWait, "the card for the last 10 minutes",
		`document.querySelector('[data-testid="delivery-card"][data-destination="segment"]').dataset.window === "10m" && `+
			countJS("segment", "count-delivered")+" === 17 && "+countJS("segment", "count-dead-lettered")+" === 1")
	screenshot(t, ctx, "delivery")

	// Config: the destination, its endpoint and its write key masked.
	goTo(t, ctx, "#/config")
	page(t, ctx, "the config view", uiWait, chromedp.WaitVisible(testid("config-json")))
	cfg := textOf(t, ctx, "config-json")
	if !strings.Contains(cfg, front.URL) || strings.Contains(cfg, "test-write-key") {
		t.Fatalf("config view: want the sink URL and no write key in clear:\n%s", cfg)
	}
}

// TestBrowserLiveWindow: the live view keeps 500 events but only the rows in
// view are in the DOM; scrolling draws the others, and new events arriving
// while the user reads further down do not move the rows being read.
func TestBrowserLiveWindow(t *testing.T) {
	parallel(t)
	chromiumPath(t)
	b := startBridge(t, testConfig(t, ""))
	post := func(session string, from, n int) {
		evs := make([]btEvent, n)
		for i := range evs {
			evs[i] = btEvent{name: fmt.Sprintf("win_%04d", from+i), userID: "user-w", stableID: "stable-w"}
		}
		mustPost(t, b.URL, sdkRequest(session, evs...))
	}
	// Sent before the page opens: the live stream is a sample (≈ 20/s), the
	// page's first fill is the bridge's whole buffer.
	post("win-1", 0, 300)
	post("win-2", 300, 300)
	ctx := openDebugger(t, b, "#/live")
	page(t, ctx, "waiting for the live view", uiWait, chromedp.WaitVisible(testid("live-toggle")))
	// 600 sent, the list keeps the newest 500: win_0599 on top, win_0100 last.
	waitPage(t, ctx, uiWait, "a full list of 500 with win_0599 on top and win_0100 last",
		`(() => { const l = `+listNamesJS+`; return l.length === 500 && l[0] === "win_0599" && l[499] === "win_0100"; })()`)
	waitPage(t, ctx, uiWait, "500 shown", `document.querySelector('[data-testid="shown-count"]').innerText.startsWith("500")`)
	dom := rowNames(t, ctx)
	if len(dom) == 0 || len(dom) > 80 || dom[0] != "win_0599" {
		t.Fatalf("DOM rows at the top: %d, first %v; want the top window only (1..80 rows, win_0599 first)", len(dom), dom[:min(3, len(dom))])
	}

	// Scrolled to the bottom, the oldest rows are drawn and the top ones are gone.
	eval[chromedp.Void](t, ctx, `void (window.__debugger.views.live.scroller.scrollTop = 1e9)`)
	waitPage(t, ctx, uiWait, "win_0100 drawn at the bottom", `(() => { const r = `+rowNamesJS+`; return r.includes("win_0100") && !r.includes("win_0599"); })()`)
	visible := `(() => { const sc = window.__debugger.views.live.scroller.getBoundingClientRect();
		const row = Array.from(document.querySelectorAll('[data-testid="event-row"]')).find(r => r.getBoundingClientRect().top >= sc.top + 30);
		return row ? row.dataset.eventName : ""; })()`
	eval[chromedp.Void](t, ctx, `void (window.__debugger.views.live.scroller.scrollTop = 200 * window.__debugger.views.live.rowH)`)
	waitPage(t, ctx, uiWait, "the window around row 200 drawn", rowNamesJS+`.includes("win_0399")`)
	before := eval[string](t, ctx, visible)
	if before == "" {
		t.Fatal("no row in view after scrolling to row 200")
	}
	// New events arrive while the user reads row ~200: the same row stays in view.
	post("win-3", 600, 10) // within the stream's burst: all ten are sent to the page
	waitPage(t, ctx, uiWait, "win_0609 on top of the list", listNamesJS+`[0] === "win_0609"`)
	waitPage(t, ctx, uiWait, "the list drawn after the new events", `window.__debugger.views.live.queued.length === 0`)
	if after := eval[string](t, ctx, visible); after != before {
		t.Fatalf("the row in view moved when new events arrived: %s before, %s after", before, after)
	}
}
