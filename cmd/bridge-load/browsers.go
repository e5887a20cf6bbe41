package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/performance"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/remote"
)

// watchers are headless Chromium browsers that keep the bridge's debugger
// open on the live view (#/live) while the load runs, as a user watching
// events arrive would: each holds the event stream open and renders the
// rows. They run on the same cores as the bridge, so their CPU time is
// measured apart (from /proc) to tell the bridge's cost from theirs.
type watchers struct {
	browsers []*watcher
}

type watcher struct {
	browser context.Context // the browser (its first, blank tab)
	tab     context.Context // the page's tab while attached (-browser-devtools), else nil
	target  target.ID       // the page's tab
	cancel  func()
	dir     string
	pid     int
	// A plain watcher's DevTools address, page URL (without the route) and
	// how to close the session opened at the end.
	ws, base     string
	cancelRemote *context.CancelFunc
}

// startWatchers starts n browsers on base+"/#/live" and waits until each
// shows the live view.
// cpus, when not empty, is a taskset(1) CPU list the browsers are pinned
// to (e.g. "1" with the bridge under taskset -c 0 and GOMAXPROCS=1: the
// browsers then cost the bridge no CPU, as when they run on users' own
// machines).
func startWatchers(n int, exe, cpus, base, page string, devtools bool) (*watchers, error) {
	if exe == "" {
		return nil, errors.New("-browsers needs -chromium (or BRIDGE_TEST_CHROMIUM) naming a Chromium binary")
	}
	ws := &watchers{}
	for i := range n {
		w, err := startWatcher(exe, cpus, base+page, devtools)
		if err != nil {
			ws.close()
			return nil, fmt.Errorf("browser %d: %w", i+1, err)
		}
		ws.browsers = append(ws.browsers, w)
	}
	return ws, nil
}

func startWatcher(exe, cpus, pageURL string, devtools bool) (*watcher, error) {
	if !devtools {
		return startPlainWatcher(exe, cpus, pageURL)
	}
	var taskset string
	if cpus != "" {
		var err error
		if taskset, err = exec.LookPath("taskset"); err != nil {
			return nil, fmt.Errorf("-browser-cpus: %w", err)
		}
	}
	dir, err := os.MkdirTemp("", "bridge-load-chromium-")
	if err != nil {
		return nil, err
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
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
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(1400, 900),
		chromedp.CombinedOutput(io.Discard),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			if taskset != "" { // taskset execs Chromium: same pid
				cmd.Args = append([]string{taskset, "-c", cpus, cmd.Path}, cmd.Args[1:]...)
				cmd.Path = taskset
			}
		}),
	)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithErrorf(func(string, ...any) {}))
	w := &watcher{dir: dir, cancel: func() {
		cancelBrowser()
		cancelAlloc()
		os.RemoveAll(dir)
	}}
	if err := chromedp.Do(bctx); err != nil {
		w.cancel()
		return nil, fmt.Errorf("starting %s: %w", exe, err)
	}
	if p := chromedp.FromContext(bctx).Browser.Process(); p != nil {
		w.pid = p.Pid
	}
	w.browser = bctx
	// The page gets a tab of its own; once it shows the live view the
	// DevTools session detaches and the tab runs as in a user's browser
	// (an attached session has chromedp's Network, DOM, CSS, Log and
	// Runtime domains on: every SSE message and DOM change would also be
	// serialised to this process). -browser-devtools keeps it attached for
	// the Performance domain's page metrics.
	var opts []chromedp.ContextOption
	if !devtools {
		opts = append(opts, chromedp.WithDetachOnCancel())
	}
	tab, cancelTab := chromedp.NewContext(bctx, opts...)
	tctx, cancel := context.WithTimeout(tab, 30*time.Second)
	defer cancel()
	err = chromedp.Do(tctx,
		chromedp.Navigate(pageURL),
		chromedp.WaitReady(`body`),
	)
	if err == nil && devtools {
		_, err = chromedp.Call(tctx, performance.Enable, performance.EnableParams{})
	}
	if err != nil {
		cancelTab()
		w.cancel()
		return nil, fmt.Errorf("opening %s: %w", pageURL, err)
	}
	w.target = chromedp.FromContext(tab).Target.TargetID
	if devtools {
		w.tab = tab
	} else {
		cancelTab() // detaches; the tab stays open
	}
	return w, nil
}

// startPlainWatcher runs Chromium as a user's browser runs: started on the
// page, with no DevTools session attached while the load runs. (chromedp,
// attached, turns on the Network, DOM, CSS, Log and Runtime domains: each
// SSE message and DOM change is then also serialised to this process, and
// the browsers cost several times more CPU than they do for a user.) The
// DevTools port is only used to check the page is up before the load and to
// read its list after.
func startPlainWatcher(exe, cpus, pageURL string) (*watcher, error) {
	dir, err := os.MkdirTemp("", "bridge-load-chromium-")
	if err != nil {
		return nil, err
	}
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
		"--disable-quic", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + dir, "--window-size=1400,900",
		"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", pageURL}
	cmd := exec.Command(exe, args...)
	if cpus != "" {
		taskset, err := exec.LookPath("taskset")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("-browser-cpus: %w", err)
		}
		cmd = exec.Command(taskset, append([]string{"-c", cpus, exe}, args...)...) // taskset execs Chromium: same pid
	}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its helpers are stopped with it
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting %s: %w", exe, err)
	}
	w := &watcher{dir: dir, pid: cmd.Process.Pid, base: strings.Split(pageURL, "#")[0]}
	var cancelRemote context.CancelFunc = func() {}
	w.cancel = func() {
		cancelRemote()
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		killProfile(dir) // the zygote and its children leave the group
		os.RemoveAll(dir)
	}
	fail := func(err error) (*watcher, error) {
		w.cancel()
		return nil, fmt.Errorf("opening %s: %w", pageURL, err)
	}
	// Chromium writes its DevTools port and browser path to the profile.
	var ws string
	for deadline := time.Now().Add(30 * time.Second); ws == ""; time.Sleep(100 * time.Millisecond) {
		if b, err := os.ReadFile(filepath.Join(dir, "DevToolsActivePort")); err == nil {
			if lines := strings.Fields(string(b)); len(lines) == 2 {
				ws = "ws://127.0.0.1:" + lines[0] + lines[1]
			}
		}
		if time.Now().After(deadline) {
			return fail(errors.New("no DevToolsActivePort within 30s"))
		}
	}
	w.ws = ws
	w.cancelRemote = &cancelRemote
	// Nothing is attached while the load runs; give the page the time a
	// user's browser takes to open it (its list is read at the end).
	time.Sleep(3 * time.Second)
	return w, nil
}

// killProfile kills every process whose command line names the profile dir.
func killProfile(dir string) { signalProfile(dir, syscall.SIGKILL) }

// signalProfile sends sig to every process whose command line names the
// profile dir: the zygote's children leave the browser's process group.
func signalProfile(dir string, sig syscall.Signal) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); err == nil && bytes.Contains(b, []byte(dir)) {
			_ = syscall.Kill(pid, sig)
		}
	}
}

// connect attaches to a plain watcher's browser and finds the page's tab.
func (w *watcher) connect(ctx context.Context) error {
	actx, cancelAlloc := remote.NewAllocator(context.Background(), w.ws, remote.NoModifyURL)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithErrorf(func(string, ...any) {}))
	*w.cancelRemote = func() { cancelBrowser(); cancelAlloc() }
	if err := chromedp.Do(bctx); err != nil { // connects, for the watcher's life
		return err
	}
	w.browser = bctx
	tctx, cancel := context.WithCancel(bctx)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	infos, err := chromedp.Targets(tctx)
	if err != nil {
		return err
	}
	for _, in := range infos {
		if in.Type == "page" && strings.HasPrefix(in.URL, w.base) {
			w.target = in.TargetID
			return nil
		}
	}
	return errors.New("the page's tab is gone")
}

// page runs f on the watcher's tab, attaching to it again when detached.
func (w *watcher) page(timeout time.Duration, f func(ctx context.Context) error) error {
	if w.browser == nil {
		cctx, cancel := context.WithTimeout(context.Background(), timeout)
		err := w.connect(cctx)
		cancel()
		if err != nil {
			return err
		}
	}
	ctx := w.tab
	if ctx == nil {
		var cancel context.CancelFunc
		ctx, cancel = chromedp.NewContext(w.browser, chromedp.WithTargetID(w.target), chromedp.WithDetachOnCancel())
		defer cancel()
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return f(tctx)
}

// rows is the number of event rows each browser shows now.
func (ws *watchers) rows() []int {
	var out []int
	for _, w := range ws.browsers {
		n := -1
		err := w.page(5*time.Second, func(ctx context.Context) error {
			v, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.__debugger.views.live ? window.__debugger.views.live.list.length : 0`))
			if err == nil {
				n = v
			}
			return err
		})
		if err != nil {
			fmt.Fprintf(os.Stderr, "bridge-load: reading a browser's list: %v\n", err)
		}
		out = append(out, n)
	}
	return out
}

// pageMetrics sums the pages' main-thread times (seconds) from Chromium's
// Performance domain: TaskDuration (all main-thread work), ScriptDuration,
// LayoutDuration, RecalcStyleDuration.
func (ws *watchers) pageMetrics() map[string]float64 {
	out := map[string]float64{}
	for _, w := range ws.browsers {
		if w.tab == nil {
			continue // detached: no Performance domain (-browser-devtools)
		}
		tctx, cancel := context.WithTimeout(w.tab, 5*time.Second)
		res, err := chromedp.Call(tctx, performance.GetMetrics, cdp.Empty{})
		cancel()
		if err != nil {
			continue
		}
		for _, m := range res.Metrics {
			switch m.Name {
			case "TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration", "LayoutCount":
				out[m.Name] += m.Value
			}
		}
	}
	return out
}

// cpu is the CPU time used so far by every process of the browsers, by
// Chromium process type (browser, renderer, gpu-process, utility…).
func (ws *watchers) cpu() map[string]time.Duration {
	var roots []int
	for _, w := range ws.browsers {
		roots = append(roots, w.pid)
	}
	return treeCPU(roots)
}

// total is the sum of a cpu() map.
func total(m map[string]time.Duration) time.Duration {
	var d time.Duration
	for _, v := range m {
		d += v
	}
	return d
}

func (ws *watchers) close() {
	for _, w := range ws.browsers {
		w.cancel()
	}
}

// treeCPU sums user+system time of the processes under roots (roots
// included) from /proc/<pid>/stat, by the --type= of their command line.
func treeCPU(roots []int) map[string]time.Duration {
	type proc struct {
		ppid  int
		ticks int64
	}
	procs := map[int]proc{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ... utime(14) stime(15): comm may hold spaces.
		s := string(raw)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		procs[pid] = proc{ppid: ppid, ticks: ut + st}
	}
	in := map[int]bool{}
	for _, r := range roots {
		if r > 0 {
			in[r] = true
		}
	}
	// Parents before children is not guaranteed: repeat until stable.
	for changed := true; changed; {
		changed = false
		for pid, p := range procs {
			if !in[pid] && in[p.ppid] {
				in[pid] = true
				changed = true
			}
		}
	}
	const clkTck = 100 // USER_HZ on Linux
	out := map[string]time.Duration{}
	for pid := range in {
		typ := "browser"
		if cmd, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline")); err == nil {
			// Chromium rewrites its helpers' command lines: split on spaces too.
			for _, arg := range strings.FieldsFunc(string(cmd), func(r rune) bool { return r == 0 || r == ' ' }) {
				if v, ok := strings.CutPrefix(arg, "--type="); ok {
					typ = v
				}
			}
		}
		out[typ] += time.Duration(procs[pid].ticks) * time.Second / clkTck
	}
	return out
}

// streamReaders are plain clients of the debugger's live stream
// (GET /api/stream): what the browsers receive, without rendering it. With
// them the run measures the bridge's own cost of serving watchers.
type streamReaders struct {
	cancel context.CancelFunc
	done   chan struct{}
	events atomic.Int64 // "event: event" messages received
}

func startStreamReaders(n int, base string) (*streamReaders, error) {
	ctx, cancel := context.WithCancel(context.Background())
	sr := &streamReaders{cancel: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	for range n {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/stream", nil)
		if err != nil {
			cancel()
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("opening the live stream: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			cancel()
			return nil, fmt.Errorf("opening the live stream: HTTP %d", resp.StatusCode)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				if bytes.Equal(sc.Bytes(), []byte("event: event")) {
					sr.events.Add(1)
				}
			}
		}()
	}
	go func() { wg.Wait(); close(sr.done) }()
	return sr, nil
}

func (sr *streamReaders) close() {
	sr.cancel()
	<-sr.done
}
