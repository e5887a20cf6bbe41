package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Browser tests drive a real Chromium (Debian's chromium; .ci/run installs
// it and sets BRIDGE_TEST_CHROMIUM=/usr/bin/chromium). Without it they skip,
// so `go test ./...` passes on a laptop with no browser.

// chromiumPath returns the browser to drive, or skips the test.
func chromiumPath(t testing.TB) string {
	t.Helper()
	p := os.Getenv("BRIDGE_TEST_CHROMIUM")
	if p == "" {
		t.Skip("browser test: set BRIDGE_TEST_CHROMIUM to a Chromium binary (e.g. /usr/bin/chromium) to run it")
	}
	if _, err := exec.LookPath(p); err != nil {
		t.Skipf("browser test: BRIDGE_TEST_CHROMIUM=%s is not an executable: %v", p, err)
	}
	return p
}

// browserFlags are the headless Chromium flags the tests use: no sandbox
// (CI runs as root), no GPU, nothing that phones home.
func browserFlags(execPath, userDataDir string, width, height int) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(execPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.UserDataDir(userDataDir),
		chromedp.WindowSize(width, height),
	}
}

// The browser tests share one Chromium, started by the first of them and
// closed by TestMain: a browser's start costs more CPU than a test's page
// does, and the tests run in parallel beside CPU-bound ones. Each test
// gets a tab in a browser context of its own (its own cookies, storage and
// cache, like a fresh profile), closed when the test ends.
var sharedBrowser struct {
	once    sync.Once
	ctx     context.Context // the browser's first tab; parent of every test's
	cancel  func()          // closes the browser and its allocator
	dataDir string
	err     error
}

// chromedpErrorf is chromedp's error log: shown with BRIDGE_TEST_LOG=debug
// only (cdproto does not know every event of a newer Chromium; not a
// failure).
func chromedpErrorf(format string, args ...any) {
	if os.Getenv("BRIDGE_TEST_LOG") == "debug" {
		fmt.Fprintf(os.Stderr, "chromedp: "+format+"\n", args...)
	}
}

// startSharedBrowser starts the shared Chromium once.
func startSharedBrowser(exe string) (context.Context, error) {
	sb := &sharedBrowser
	sb.once.Do(func() {
		if sb.dataDir, sb.err = os.MkdirTemp("", "statsig-bridge-e2e-chromium-"); sb.err != nil {
			return
		}
		actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), browserFlags(exe, sb.dataDir, shotWidth, shotHeight)...)
		ctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithErrorf(chromedpErrorf))
		sb.ctx = ctx
		sb.cancel = func() {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_ = chromedp.Cancel(cctx) // closes the browser gracefully
			cancelBrowser()
			cancelAlloc()
		}
		// Start it now so a broken install fails here, with its message.
		if err := chromedp.Do(ctx); err != nil {
			sb.err = fmt.Errorf("starting %s: %w", exe, err)
		}
	})
	return sb.ctx, sb.err
}

// closeSharedBrowser closes the shared Chromium if a test started it.
func closeSharedBrowser() {
	sb := &sharedBrowser
	if sb.cancel != nil {
		sb.cancel()
	}
	if sb.dataDir != "" {
		os.RemoveAll(sb.dataDir)
	}
}

// newTab opens a tab of the shared Chromium in a new browser context and
// returns its context; it is closed when the test ends.
func newTab(t testing.TB) context.Context {
	t.Helper()
	exe := chromiumPath(t)
	browser, err := startSharedBrowser(exe)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("opening a tab in %s: %v", exe, err)
	}
	return ctx
}

// page runs browser actions with a timeout and fails the test on error,
// naming what it was doing.
func page(t testing.TB, ctx context.Context, what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := chromedp.Do(tctx, actions...); err != nil {
		t.Fatalf("%s: %v%s", what, err, pageState(ctx))
	}
}

// pageState describes the page for a failure message: URL and the start
// of its visible text.
func pageState(ctx context.Context) string {
	tctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(tctx, chromedp.Location())
	text, err := chromedp.Run(tctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		return ""
	}
	if len(text) > 1500 {
		text = text[:1500] + "…"
	}
	return fmt.Sprintf("\npage %s shows:\n%s", loc, text)
}

// testid is a CSS selector for an element with that data-testid.
func testid(id string) string { return `[data-testid="` + id + `"]` }

// eval evaluates a JavaScript expression in the page.
func eval[T any](t testing.TB, ctx context.Context, expr string) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v%s", expr, err, pageState(ctx))
	}
	return v
}

// waitPage polls a JavaScript expression in the page until it returns
// true or the timeout passes (chromedp.Poll runs it in the page, on every
// animation frame, so no sleeps).
func waitPage(t testing.TB, ctx context.Context, timeout time.Duration, what, expr string) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := chromedp.Run(tctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(timeout))); err != nil {
		t.Fatalf("timed out after %s waiting for %s (%v)%s", timeout, what, err, pageState(ctx))
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// rowNamesJS lists the data-event-name of the rows in the live view's DOM:
// the rows in view and a few around them (the list is windowed).
const rowNamesJS = `Array.from(document.querySelectorAll('[data-testid="event-row"]')).map(r => r.dataset.eventName)`

// listNamesJS lists the names of every event in the live view's list, top
// first, whether or not its row is scrolled into the DOM.
const listNamesJS = `window.__debugger.views.live.list.map(s => s.eventName)`

// rowNames returns the event names of the rows in the live view, top first.
func rowNames(t testing.TB, ctx context.Context) []string {
	t.Helper()
	return eval[[]string](t, ctx, rowNamesJS)
}

// waitRows waits until the live view's list holds exactly n events whose
// names contain the substring name (n < 0: at least one).
func waitRows(t testing.TB, ctx context.Context, timeout time.Duration, name string, n int) {
	t.Helper()
	count := fmt.Sprintf(`%s.filter(n => (n || "").includes(%s)).length`, listNamesJS, jsString(name))
	cond := count + " > 0"
	if n >= 0 {
		cond = fmt.Sprintf("%s === %d", count, n)
	}
	waitPage(t, ctx, timeout, fmt.Sprintf("%d rows named *%s*", n, name), cond)
}

// textOf is the innerText of the first element with that data-testid.
func textOf(t testing.TB, ctx context.Context, id string) string {
	t.Helper()
	return eval[string](t, ctx, fmt.Sprintf(`(document.querySelector(%s) || {}).innerText || ""`, jsString(testid(id))))
}

// countJS reads the number shown in an element with that data-testid inside
// the delivery card of dest ("1,234" reads 1234; -1 when absent).
func countJS(dest, id string) string {
	return fmt.Sprintf(`(() => {
		const card = document.querySelector('[data-testid="delivery-card"][data-destination=' + %s + ']');
		const el = card && card.querySelector(%s);
		if (!el) return -1;
		if (el.dataset.value !== undefined) return parseInt(el.dataset.value, 10);
		const m = el.innerText.replace(/[,\s\u00a0\u202f]/g, "").match(/-?\d+/);
		return m ? parseInt(m[0], 10) : -1;
	})()`, jsString(jsString(dest)), jsString(testid(id)))
}

// countIn reads a count from a destination's delivery card.
func countIn(t testing.TB, ctx context.Context, dest, id string) int {
	t.Helper()
	return eval[int](t, ctx, countJS(dest, id))
}
