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
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/css"
	"github.com/chromedp/cdproto/dom"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/performance"
	"github.com/chromedp/chromedp"
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
	ctx    context.Context
	cancel func()
	dir    string
	pid    int
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
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithErrorf(func(string, ...any) {}))
	w := &watcher{ctx: ctx, dir: dir, cancel: func() {
		cancelTab()
		cancelAlloc()
		os.RemoveAll(dir)
	}}
	if err := chromedp.Do(ctx); err != nil {
		w.cancel()
		return nil, fmt.Errorf("starting %s: %w", exe, err)
	}
	if p := chromedp.FromContext(ctx).Browser.Process(); p != nil {
		w.pid = p.Pid
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = chromedp.Do(tctx,
		chromedp.Navigate(pageURL),
		chromedp.WaitReady(`body`),
	)
	if err == nil && devtools {
		_, err = chromedp.Call(tctx, performance.Enable, performance.EnableParams{})
	}
	if err == nil && !devtools {
		// chromedp enables the Network, DOM, CSS and Log domains on every tab:
		// each SSE message and each DOM change is then also serialised to this
		// process over the DevTools socket, work a user's browser never does.
		// Only Runtime (for rows() at the end) and Page stay on.
		for _, disable := range []cdp.Command[cdp.Empty, cdp.Empty]{network.Disable, css.Disable, dom.Disable, cdplog.Disable} {
			if _, err = chromedp.Call(tctx, disable, cdp.Empty{}); err != nil {
				break
			}
		}
	}
	if err != nil {
		w.cancel()
		return nil, fmt.Errorf("opening %s: %w", pageURL, err)
	}
	return w, nil
}

// rows is the number of event rows each browser shows now.
func (ws *watchers) rows() []int {
	var out []int
	for _, w := range ws.browsers {
		tctx, cancel := context.WithTimeout(w.ctx, 5*time.Second)
		n, err := chromedp.Run(tctx, chromedp.Evaluate[int](`window.__debugger.views.live ? window.__debugger.views.live.list.length : 0`))
		cancel()
		if err != nil {
			n = -1
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
		tctx, cancel := context.WithTimeout(w.ctx, 5*time.Second)
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
