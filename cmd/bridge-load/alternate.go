package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// alternation measures what watching browsers cost intake within one run:
// the browsers are stopped (SIGSTOP: no CPU at all, as if there were none)
// and resumed (SIGCONT) in turn every -alternate, and the events accepted
// in each window are counted. Comparing each window with its neighbours
// cancels the machine's slow drift (other tenants, the log's growth),
// which between separate runs is larger than the effect measured.
//
// It overstates the browsers' cost: a resumed Chromium catches up on
// timers and the stream it missed and takes about twice its steady CPU
// (measured: 0.19 cores for two in watching windows against 0.10 when they
// run throughout). With the browsers on cores of their own (-browser-cpus)
// that does not matter; on the bridge's cores compare whole runs instead.
// The bridge keeps serving the stopped browsers' streams: what a window
// compares is the browsers' presence, not the bridge's cost of serving
// them (-streams measures that).
type alternation struct {
	every    time.Duration
	ws       *watchers
	accepted *atomic.Int64 // events accepted so far (the load's counter)
	failed   *atomic.Int64 // requests refused or failed so far
	windows  []window
	stop     chan struct{}
	done     chan struct{}
}

type window struct {
	watching bool
	events   int64
	elapsed  time.Duration
	browser  time.Duration // the browsers' CPU in the window
	failed   int64         // requests not accepted: the window is not compared
}

func startAlternation(every time.Duration, ws *watchers, accepted, failed *atomic.Int64) *alternation {
	a := &alternation{every: every, ws: ws, accepted: accepted, failed: failed, stop: make(chan struct{}), done: make(chan struct{})}
	go a.run()
	return a
}

func (a *alternation) run() {
	defer close(a.done)
	watching := false
	a.ws.signal(syscall.SIGSTOP)
	// Resume the browsers however the run ends, or they stay stopped.
	defer a.ws.signal(syscall.SIGCONT)
	t := time.NewTicker(a.every)
	defer t.Stop()
	start, n, f, cpu := time.Now(), a.accepted.Load(), a.failed.Load(), total(a.ws.cpu())
	for {
		select {
		case <-a.stop:
			return // the window in progress is cut short by the load's end: not counted
		case now := <-t.C:
			n2, f2, cpu2 := a.accepted.Load(), a.failed.Load(), total(a.ws.cpu())
			a.windows = append(a.windows, window{watching: watching, events: n2 - n, elapsed: now.Sub(start), browser: cpu2 - cpu, failed: f2 - f})
			watching = !watching
			if watching {
				a.ws.signal(syscall.SIGCONT)
			} else {
				a.ws.signal(syscall.SIGSTOP)
			}
			start, n, f, cpu = now, n2, f2, cpu2
		}
	}
}

// finish stops alternating and leaves the browsers running.
func (a *alternation) finish() {
	close(a.stop)
	<-a.done
}

// report prints each window and the ratio of watched to unwatched intake:
// each watched window against the mean of the unwatched windows on either
// side of it, so a steady drift cancels out.
func (a *alternation) report(w io.Writer) {
	wins := a.windows
	if len(wins) > 0 {
		wins = wins[1:] // the first window warms up (connections, the log's first blocks)
	}
	fmt.Fprintf(w, "alternation (browsers stopped / watching, %s windows; the first is warm-up)\n", a.every)
	var ratios []float64
	var offRate, onRate, cpuOn float64
	var nOff, nOn, skipped int
	var line []string
	rate := func(x window) float64 { return float64(x.events) / x.elapsed.Seconds() }
	for i, win := range wins {
		mark := "-"
		if win.watching {
			mark = "W"
		}
		if win.failed > 0 {
			// Refused requests (a full log, say) are not the browsers' doing.
			skipped++
			line = append(line, fmt.Sprintf("%s%.0fk!", mark, rate(win)/1000))
			continue
		}
		line = append(line, fmt.Sprintf("%s%.0fk", mark, rate(win)/1000))
		if !win.watching {
			offRate += rate(win)
			nOff++
			continue
		}
		onRate += rate(win)
		nOn++
		cpuOn += win.browser.Seconds() / win.elapsed.Seconds()
		if i > 0 && i+1 < len(wins) && wins[i-1].failed == 0 && wins[i+1].failed == 0 {
			if base := (rate(wins[i-1]) + rate(wins[i+1])) / 2; base > 0 {
				ratios = append(ratios, rate(win)/base)
			}
		}
	}
	fmt.Fprintf(w, "  windows (W watching) %s\n", strings.Join(line, " "))
	if skipped > 0 {
		fmt.Fprintf(w, "  not compared        %d windows with refused or failed requests (!)\n", skipped)
	}
	if nOff == 0 || nOn == 0 || len(ratios) == 0 {
		fmt.Fprintf(w, "  too few windows: run longer than 4 × -alternate\n")
		return
	}
	fmt.Fprintf(w, "  events/s            %.0f stopped, %.0f watching (means of %d and %d windows)\n", offRate/float64(nOff), onRate/float64(nOn), nOff, nOn)
	fmt.Fprintf(w, "  browsers' CPU       %.3f cores while watching\n", cpuOn/float64(nOn))
	mean, lo, hi := meanCI(ratios)
	sorted := slices.Sorted(slices.Values(ratios))
	fmt.Fprintf(w, "  watching/stopped    mean %.3f (95%% CI %.3f–%.3f), median %.3f, range %.3f–%.3f over %d windows\n",
		mean, lo, hi, sorted[len(sorted)/2], sorted[0], sorted[len(sorted)-1], len(ratios))
}

// meanCI is the mean of xs and a 95% confidence interval for it (Student's
// t for the sample size, normal beyond 30).
func meanCI(xs []float64) (mean, lo, hi float64) {
	n := float64(len(xs))
	for _, x := range xs {
		mean += x
	}
	mean /= n
	if len(xs) < 2 {
		return mean, mean, mean
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	se := math.Sqrt(ss/(n-1)) / math.Sqrt(n)
	t := 1.96
	// Two-sided 97.5% quantiles of Student's t, 1 to 30 degrees of freedom.
	tt := []float64{12.71, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
		2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042}
	if df := len(xs) - 1; df <= len(tt) {
		t = tt[df-1]
	}
	return mean, mean - t*se, mean + t*se
}

// signal sends sig to every process of every browser.
func (ws *watchers) signal(sig syscall.Signal) {
	for _, w := range ws.browsers {
		signalProfile(w.dir, sig)
	}
}
