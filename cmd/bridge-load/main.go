// Command bridge-load measures the bridge end to end on this machine: it
// posts SDK-shaped event batches (gzip, STATSIG-API-KEY, like the Go SDK)
// to a bridge, runs a Segment-compatible sink that counts what the bridge
// delivers, and prints the intake and delivery rates, intake latency,
// the backlog left and the memory used.
//
// With no -url it starts the bridge in this process (cli.Serve on a
// temporary data dir: embedded JetStream, durable log on, one Segment
// destination pointed at the sink), so one command measures everything:
//
//	go run ./cmd/bridge-load -duration 20s
//	go run ./cmd/bridge-load -mode intake -duration 10s
//
// With -browsers N it first opens N headless Chromium browsers on the
// bridge's debugger live view (#/live) and keeps them watching during the
// load, then reports their CPU time apart from this process's. They run as
// a user's browser does, with no DevTools session attached during the load
// (-browser-devtools attaches chromedp, as a test driver does: several times
// the CPU):
//
//	go run ./cmd/bridge-load -mode intake -duration 15s -browsers 2 -chromium /usr/bin/chromium
//
// It only talks to loopback addresses and stops by itself.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"

	"github.com/klauspost/compress/gzip"
	"golang.org/x/time/rate"

	"github.com/statsig-bridge/statsig-bridge/internal/cli"
	"github.com/statsig-bridge/statsig-bridge/internal/config"
)

type options struct {
	url         string
	mode        string
	duration    time.Duration
	drain       time.Duration
	dedupe      time.Duration
	identify    bool
	concurrency int
	batch       int
	gzip        bool
	gzipLevel   int
	sinkAddr    string
	cpuProfile  string
	memProfile  string
	traceFile   string
	env         envOverrides
	heapAt      time.Duration
	delivery    int
	parallelism int
	logLevel    string
	browsers    int
	chromium    string
	browserCPUs string
	browserPage string
	devtools    bool
	streams     int
	bridges     int
	bin         string
	natsURL     string
	logMaxBytes int64
	rate        float64
	alternate   time.Duration
	// logMaxBytesSet: -log-max-bytes was given (the in-process bridge then uses it).
	logMaxBytesSet bool
}

func main() {
	var o options
	flag.StringVar(&o.url, "url", "", "bridge base URL(s) on loopback, comma-separated (senders are split over them); empty starts a bridge in this process")
	flag.StringVar(&o.mode, "mode", "e2e", "e2e: intake and delivery to the sink; intake: intake only (in-process bridge without destination); warehouse: intake and the warehouse alone (see -warehouse)")
	flag.DurationVar(&o.duration, "duration", 15*time.Second, "how long to send")
	flag.DurationVar(&o.drain, "drain", 120*time.Second, "e2e: how long to wait after sending for the sink to receive every accepted event")
	flag.IntVar(&o.concurrency, "concurrency", 32, "concurrent SDK requests")
	flag.IntVar(&o.batch, "batch", 100, "events per request")
	flag.BoolVar(&o.gzip, "gzip", true, "gzip request bodies, like the Go SDK")
	flag.IntVar(&o.gzipLevel, "gzip-level", gzip.DefaultCompression, "the generator's gzip level (1-9; -1 the default): the SDKs run elsewhere in production, and a lower level leaves more of the shared CPU to the bridge")
	flag.StringVar(&o.sinkAddr, "sink-addr", "127.0.0.1:0", "loopback address of the Segment-compatible sink")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (bridge included when in-process) to `file`")
	flag.StringVar(&o.memProfile, "memprofile", "", "write an allocation profile to `file` at the end")
	flag.Var(&o.env, "env", "in-process bridge: set an environment variable of its configuration, `KEY=VALUE` (repeatable), e.g. -env BRIDGE_WAREHOUSE=sqlite for the default serve with its SQLite warehouse (bridge-load turns it off otherwise)")
	flag.StringVar(&o.traceFile, "trace", "", "write a runtime execution trace of this process while sending to `file` (go tool trace; -pprof=sync shows where intake requests wait)")
	flag.DurationVar(&o.heapAt, "heapprofile-at", 0, "with -memprofile: write the profile this long after sending started (the heap under load) instead of at the end")
	flag.IntVar(&o.delivery, "delivery-concurrency", 0, "in-process bridge: batches in flight to the sink (0: the bridge's default)")
	flag.IntVar(&o.parallelism, "delivery-parallelism", 0, "in-process bridge: goroutines decoding and mapping (0: the bridge's default)")
	flag.StringVar(&o.logLevel, "log-level", "warn", "in-process bridge's log level")
	flag.IntVar(&o.browsers, "browsers", 0, "headless Chromium browsers watching the debugger's live view (#/live) during the load")
	flag.StringVar(&o.chromium, "chromium", os.Getenv("BRIDGE_TEST_CHROMIUM"), "Chromium binary for -browsers (default $BRIDGE_TEST_CHROMIUM)")
	flag.IntVar(&o.streams, "streams", 0, "plain clients of the debugger's live stream (/api/stream) during the load: the browsers' traffic without rendering")
	flag.StringVar(&o.browserPage, "browser-page", "/#/live", "page the -browsers open (e.g. /#/config, a static view, for the browsers' own baseline cost)")
	flag.BoolVar(&o.devtools, "browser-devtools", false, "drive the -browsers through chromedp during the load (DevTools session attached, Performance metrics), as a test driver does; off, they run as a user's browser does and are only watched from /proc")
	flag.StringVar(&o.browserCPUs, "browser-cpus", "", "taskset CPU list to pin the -browsers to (e.g. 1, with this process under taskset -c 0 and GOMAXPROCS=1)")
	flag.IntVar(&o.bridges, "bridges", 0, "start N `statsig-bridge serve` processes (-bin) on the external NATS server -nats, sharing one stream and destination; senders are split over them")
	flag.StringVar(&o.bin, "bin", "", "statsig-bridge binary for -bridges (go build -o /tmp/statsig-bridge ./cmd/statsig-bridge)")
	flag.StringVar(&o.natsURL, "nats", os.Getenv("BRIDGE_TEST_NATS_URL"), "external NATS server for -bridges (loopback only; default $BRIDGE_TEST_NATS_URL)")
	flag.Int64Var(&o.logMaxBytes, "log-max-bytes", 2<<30, "-bridges: the stream's max_bytes on the external server; in-process bridge: its log.max_bytes when given (default 8 GiB: ≈ 10M events, about 90 s of intake mode at full speed)")
	flag.Float64Var(&o.rate, "rate", 0, "events per second to send, all senders together (0: as fast as the bridge answers); a soak runs below the maximum")
	flag.DurationVar(&o.alternate, "alternate", 0, "with -browsers: stop (SIGSTOP) and resume the browsers in turn every `interval` during one run, and compare the events accepted while they watch with the windows either side (e.g. 5s with -duration 3m)")
	flag.BoolVar(&o.identify, "identify", false, "in-process bridge: the Segment destination's mapping.identify: on_change; the drain then waits for the events accepted plus the identifies")
	flag.DurationVar(&o.dedupe, "dedupe-exposures", 0, "in-process bridge: the Segment destination's mapping.dedupe_exposures window (0: off); the drain then waits for the events accepted less those filtered as duplicate_exposure")
	flag.Parse()
	flag.Visit(func(f *flag.Flag) { o.logMaxBytesSet = o.logMaxBytesSet || f.Name == "log-max-bytes" })
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bridge-load:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.mode != "e2e" && o.mode != "intake" && o.mode != "warehouse" {
		return fmt.Errorf("-mode %q: want e2e, intake or warehouse", o.mode)
	}
	if _, err := gzip.NewWriterLevel(io.Discard, o.gzipLevel); err != nil {
		return fmt.Errorf("-gzip-level %d: %w", o.gzipLevel, err)
	}
	if o.mode == "warehouse" {
		if o.url != "" || o.bridges > 0 || o.browsers > 0 || o.streams > 0 {
			return errors.New("-mode warehouse starts its own bridge: leave out -url, -bridges, -browsers and -streams")
		}
		return runWarehouse(o)
	}
	if o.batch < 1 || o.concurrency < 1 || o.duration <= 0 || o.browsers < 0 || o.streams < 0 || o.rate < 0 {
		return errors.New("-batch, -concurrency and -duration must be positive, -rate not negative")
	}
	if o.alternate < 0 || (o.alternate > 0 && (o.browsers == 0 || o.devtools)) {
		return errors.New("-alternate needs -browsers (without -browser-devtools) and a positive interval")
	}
	if !loopback(o.sinkAddr) {
		return fmt.Errorf("-sink-addr %s is not a loopback address", o.sinkAddr)
	}

	var sk *sink
	if o.mode == "e2e" {
		var err error
		if sk, err = startSink(o.sinkAddr); err != nil {
			return fmt.Errorf("starting the sink: %w", err)
		}
		defer sk.close()
	}

	base := o.url
	var stopBridge func() error
	var bp *bridgeProcs
	if o.bridges > 0 {
		if o.url != "" || o.mode != "e2e" {
			return errors.New("-bridges starts its own bridges in e2e mode: leave out -url and -mode")
		}
		var err error
		if bp, err = startBridgeProcs(o, sk.URL()); err != nil {
			return err
		}
		defer bp.stop()
		base = strings.Join(bp.urls, ",")
		fmt.Printf("%d bridge processes on %s, stream %s: %s\n", o.bridges, o.natsURL, bp.stream, base)
	} else if base == "" {
		sinkURL := ""
		if sk != nil {
			sinkURL = sk.URL()
		}
		var err error
		if base, stopBridge, err = startBridge(o, sinkURL); err != nil {
			return err
		}
	} else {
		for _, b := range strings.Split(base, ",") {
			u, err := url.Parse(b)
			if err != nil || !loopback(u.Host) {
				return fmt.Errorf("-url %s: only a bridge on a loopback address may be loaded", b)
			}
		}
		if sk != nil {
			fmt.Printf("sink listening on %s: point the bridge's SEGMENT_ENDPOINT there\n", sk.URL())
		}
	}

	stopCPU, err := startCPUProfile(o.cpuProfile)
	if err != nil {
		return err
	}
	defer stopCPU()

	prof, err := startProfiles(o)
	if err != nil {
		return err
	}
	defer prof.stopTrace()

	var ws *watchers
	if o.browsers > 0 {
		var err error
		if ws, err = startWatchers(o.browsers, o.chromium, o.browserCPUs, strings.TrimRight(strings.Split(base, ",")[0], "/"), o.browserPage, o.devtools); err != nil {
			return err
		}
		defer ws.close()
	}

	var sr *streamReaders
	if o.streams > 0 {
		var err error
		if sr, err = startStreamReaders(o.streams, strings.TrimRight(strings.Split(base, ",")[0], "/")); err != nil {
			return err
		}
		defer sr.close()
	}

	pace := "as fast as answered"
	if o.rate > 0 {
		pace = fmt.Sprintf("at most %.0f events/s", o.rate)
	}
	fmt.Printf("bridge-load: %s mode, %s, %d concurrent requests of %d events (%s), gzip=%v (level %d), GOMAXPROCS=%d, %d browsers watching, %d stream readers\n",
		o.mode, o.duration, o.concurrency, o.batch, pace, o.gzip, o.gzipLevel, runtime.GOMAXPROCS(0), o.browsers, o.streams)
	ld := &load{opts: o}
	for _, b := range strings.Split(base, ",") {
		ld.urls = append(ld.urls, strings.TrimRight(b, "/")+"/v1/log_event")
	}
	var browserCPUStart map[string]time.Duration
	var pageStart map[string]float64
	if ws != nil {
		browserCPUStart, pageStart = ws.cpu(), ws.pageMetrics()
	}
	cpuStart := processCPU()
	var bridgeCPUStart time.Duration
	if bp != nil {
		bridgeCPUStart = bp.cpu()
	}
	var alt *alternation
	if o.alternate > 0 {
		alt = startAlternation(o.alternate, ws, &ld.accepted, &ld.failed)
	}
	res := ld.run()
	loadEnd := time.Now()
	if alt != nil {
		alt.finish()
	}
	browserCPU := map[string]time.Duration{}
	pageUsed := map[string]float64{}
	var browserRows []int
	if ws != nil {
		for k, v := range ws.cpu() {
			browserCPU[k] = v - browserCPUStart[k]
		}
		for k, v := range ws.pageMetrics() {
			pageUsed[k] = v - pageStart[k]
		}
		browserRows = ws.rows()
	}
	var deliveredAtEnd int64
	if sk != nil {
		deliveredAtEnd = sk.messages.Load()
	}
	drainEnd := loadEnd
	if sk != nil && res.events > 0 {
		want := func() int64 { return res.events }
		if o.dedupe > 0 {
			// Duplicate exposures never reach the sink.
			bridge := strings.TrimRight(strings.Split(base, ",")[0], "/")
			want = func() int64 { return res.events - int64(filteredDuplicates(bridge)) }
		}
		if o.identify {
			// Identifies come on top of the events.
			events := want
			want = func() int64 { return events() + sk.identifies.Load() }
		}
		drainEnd = waitDrained(sk, want, o.drain)
	}
	cpuUsed := processCPU() - cpuStart
	if bp != nil {
		bridgeCPU := bp.cpu() - bridgeCPUStart
		defer func() {
			wall := res.elapsed + drainEnd.Sub(loadEnd)
			fmt.Printf("cpu (sending and draining; the NATS server's own CPU not included)\n")
			fmt.Printf("  bridge processes    %.1fs in %.1fs (%.2f cores), %.2f cpu-µs/event\n", bridgeCPU.Seconds(), wall.Seconds(),
				bridgeCPU.Seconds()/wall.Seconds(), float64(bridgeCPU.Microseconds())/float64(max(res.events, 1)))
			fmt.Printf("  generator + sink    %.1fs (%.2f cores)\n", cpuUsed.Seconds(), cpuUsed.Seconds()/wall.Seconds())
		}()
	}
	if o.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if err := prof.stopTrace(); err != nil {
		return fmt.Errorf("writing the trace: %w", err)
	}
	if taken, err := prof.heapDone(); err != nil {
		return fmt.Errorf("writing the heap profile: %w", err)
	} else if o.memProfile != "" && !taken {
		if err := writeHeapProfile(o.memProfile); err != nil {
			return err
		}
	}

	report(os.Stdout, o, res, sk, loadEnd, drainEnd, deliveredAtEnd, cpuUsed, stopBridge != nil)
	if whOpts.beside && stopBridge != nil {
		reportBeside(os.Stdout, base, res.events, o.drain)
	}
	if o.identify && sk != nil {
		fmt.Printf("identify on_change\n  identifies sent     %d (%.1f per 100 events accepted)\n", sk.identifies.Load(), 100*float64(sk.identifies.Load())/float64(max(res.events, 1)))
	}
	if o.dedupe > 0 && res.events > 0 {
		dups := filteredDuplicates(strings.TrimRight(strings.Split(base, ",")[0], "/"))
		fmt.Printf("dedupe_exposures %s\n  duplicates filtered %.0f (%.1f%% of the events accepted)\n", o.dedupe, dups, 100*dups/float64(res.events))
	}
	if sr != nil {
		fmt.Printf("stream readers (GET /api/stream, no rendering)\n")
		fmt.Printf("  events received     %d by %d readers (%.0f/s each)\n", sr.events.Load(), o.streams, float64(sr.events.Load())/float64(o.streams)/res.elapsed.Seconds())
	}
	if alt != nil {
		alt.report(os.Stdout)
	}
	if ws != nil {
		fmt.Printf("browsers (headless Chromium on %s, every process of each; while sending)\n", o.browserPage)
		fmt.Printf("  rows shown at end   %v\n", browserRows)
		all := total(browserCPU)
		fmt.Printf("  cpu time            %.1fs in %.1fs (%.2f cores)\n", all.Seconds(), res.elapsed.Seconds(), all.Seconds()/res.elapsed.Seconds())
		types := slices.Sorted(maps.Keys(browserCPU))
		var parts []string
		for _, k := range types {
			parts = append(parts, fmt.Sprintf("%s %.1fs", k, browserCPU[k].Seconds()))
		}
		fmt.Printf("  by process type     %s\n", strings.Join(parts, ", "))
		fmt.Printf("  pages' main thread  tasks %.1fs: script %.1fs, style %.1fs, layout %.1fs (%.0f layouts)\n",
			pageUsed["TaskDuration"], pageUsed["ScriptDuration"], pageUsed["RecalcStyleDuration"], pageUsed["LayoutDuration"], pageUsed["LayoutCount"])
		if res.events > 0 {
			fmt.Printf("  cpu-µs/event        %.2f (browsers' CPU per accepted event)\n", float64(all.Microseconds())/float64(res.events))
		}
	}
	if stopBridge != nil {
		if err := stopBridge(); err != nil {
			return fmt.Errorf("stopping the bridge: %w", err)
		}
	}
	if res.failed > 0 && res.ok == 0 {
		return fmt.Errorf("no request was accepted (%d failed): %s", res.failed, res.firstErr)
	}
	return nil
}

// startBridge runs cli.Serve in this process on a temporary data dir.
func startBridge(o options, sinkURL string) (string, func() error, error) {
	dir, err := os.MkdirTemp("", "bridge-load-")
	if err != nil {
		return "", nil, err
	}
	env := map[string]string{
		"BRIDGE_LISTEN":   "127.0.0.1:0",
		"BRIDGE_DATA_DIR": dir,
		// Measure the Segment path alone (the SQLite warehouse is on by default).
		"BRIDGE_WAREHOUSE": "off",
	}
	maps.Copy(env, o.env)
	if whOpts.beside {
		delete(env, "BRIDGE_WAREHOUSE") // the default: SQLite in the data dir
	}
	if o.logMaxBytesSet {
		env["BRIDGE_LOG_MAX_BYTES"] = strconv.FormatInt(o.logMaxBytes, 10)
	}
	if sinkURL != "" {
		env["SEGMENT_WRITE_KEY"] = "load-write-key"
		env["SEGMENT_ENDPOINT"] = sinkURL
		// No config specs offline: name the experiment so config exposures
		// of it are reported as experiment exposures, as with specs.
		env["STATSIG_EXPERIMENTS"] = "load_*_experiment"
	}
	base, stop, err := serveBridge(o, env)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return base, func() error {
		defer os.RemoveAll(dir)
		return stop()
	}, nil
}

// serveBridge runs cli.Serve in this process with the configuration env
// makes; stop leaves its data dir in place.
func serveBridge(o options, env map[string]string) (string, func() error, error) {
	cfg, err := config.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		return "", nil, err
	}
	for i := range cfg.Destinations {
		if o.delivery > 0 {
			cfg.Destinations[i].Delivery.Concurrency = o.delivery
		}
		cfg.Destinations[i].Delivery.Parallelism = o.parallelism
		cfg.Destinations[i].Mapping.DedupeExposures = mappingconfig.Window(o.dedupe)
		if o.identify {
			cfg.Destinations[i].Mapping.Identify = mappingconfig.IdentifyOnChange
		}
	}
	if problems := cfg.Validate(); len(problems) > 0 {
		return "", nil, fmt.Errorf("invalid bridge config: %s", strings.Join(problems, "; "))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return "", nil, fmt.Errorf("-log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- cli.Serve(ctx, cfg, logger, func(a net.Addr) { addrs <- a }) }()
	select {
	case a := <-addrs:
		stop := func() error {
			cancel()
			select {
			case err := <-done:
				return err
			case <-time.After(30 * time.Second):
				return errors.New("the bridge did not stop within 30s")
			}
		}
		return "http://" + a.String(), stop, nil
	case err := <-done:
		cancel()
		return "", nil, fmt.Errorf("starting the bridge: %w", err)
	case <-time.After(60 * time.Second):
		cancel()
		return "", nil, errors.New("the bridge did not start within 60s")
	}
}

// load posts requests from concurrent senders until the duration is over;
// requests in flight then finish, so every count is exact.
type load struct {
	opts options
	urls []string // senders are spread over them
	seq  atomic.Uint64
	// accepted counts the events accepted so far, for -alternate's windows.
	accepted atomic.Int64
	failed   atomic.Int64 // requests not accepted so far
	// pace holds the senders to -rate (nil: no limit).
	pace *rate.Limiter
	// maxEvents stops the senders once this many events are accepted (0: no cap).
	maxEvents int64
}

type loadResult struct {
	requests, ok, failed int64
	events               int64 // accepted at intake (202)
	latencies            []time.Duration
	statuses             map[int]int64
	firstErr             string
	elapsed              time.Duration
}

func (l *load) run() *loadResult {
	o := l.opts
	tmpl := newBodyTemplate(o.batch, time.Now().UnixMilli())
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = o.concurrency
	tr.DisableCompression = true
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	defer tr.CloseIdleConnections()

	start := time.Now()
	deadline := start.Add(o.duration)
	if o.rate > 0 {
		// One request of o.batch events per token; a burst of at most one
		// request per sender after a slow answer.
		l.pace = rate.NewLimiter(rate.Limit(o.rate/float64(o.batch)), o.concurrency)
	}
	results := make([]*loadResult, o.concurrency)
	var wg sync.WaitGroup
	for w := range o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[w] = l.send(client, tmpl, deadline, l.urls[w%len(l.urls)])
		}()
	}
	wg.Wait()
	total := &loadResult{statuses: map[int]int64{}, elapsed: time.Since(start)}
	for _, r := range results {
		total.requests += r.requests
		total.ok += r.ok
		total.failed += r.failed
		total.events += r.events
		total.latencies = append(total.latencies, r.latencies...)
		for k, v := range r.statuses {
			total.statuses[k] += v
		}
		if total.firstErr == "" {
			total.firstErr = r.firstErr
		}
	}
	slices.Sort(total.latencies)
	return total
}

// send is one sender: an SDK flushing batches back to back.
func (l *load) send(client *http.Client, tmpl *bodyTemplate, deadline time.Time, url string) *loadResult {
	res := &loadResult{statuses: map[int]int64{}}
	var raw []byte
	var zbuf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&zbuf, l.opts.gzipLevel) // checked in run
	answer := make([]byte, 0, 4096)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	for time.Now().Before(deadline) {
		if l.maxEvents > 0 && l.accepted.Load() >= l.maxEvents {
			break
		}
		if l.pace != nil && l.pace.Wait(ctx) != nil {
			break // the next turn is after the deadline
		}
		raw = tmpl.render(raw, l.seq.Add(1))
		body := raw
		if l.opts.gzip {
			zbuf.Reset()
			zw.Reset(&zbuf)
			zw.Write(raw)
			zw.Close()
			body = zbuf.Bytes()
		}
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			panic(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("STATSIG-API-KEY", "secret-load-0000000000000000")
		req.Header.Set("STATSIG-CLIENT-TIME", strconv.FormatInt(time.Now().UnixMilli(), 10))
		req.Header.Set("STATSIG-EVENT-COUNT", strconv.Itoa(tmpl.events))
		req.Header.Set("STATSIG-SDK-TYPE", "go-sdk")
		req.Header.Set("STATSIG-SDK-VERSION", "v1.35.1")
		req.Header.Set("STATSIG-SERVER-SESSION-ID", "bridge-load")
		if l.opts.gzip {
			req.Header.Set("Content-Encoding", "gzip")
		}
		t0 := time.Now()
		resp, err := client.Do(req)
		res.requests++
		if err != nil {
			l.failed.Add(1)
			res.failed++
			if res.firstErr == "" {
				res.firstErr = err.Error()
			}
			continue
		}
		answer = answer[:0]
		answer, _ = readAll(answer, resp.Body)
		resp.Body.Close()
		res.latencies = append(res.latencies, time.Since(t0))
		res.statuses[resp.StatusCode]++
		if resp.StatusCode != http.StatusAccepted {
			l.failed.Add(1)
			res.failed++
			if res.firstErr == "" {
				res.firstErr = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, answer)
			}
			continue
		}
		res.ok++
		n := acceptedCount(answer, tmpl.events)
		res.events += n
		l.accepted.Add(n)
	}
	return res
}

func readAll(dst []byte, r io.Reader) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

// acceptedCount reads "accepted":N from the intake's answer.
func acceptedCount(answer []byte, def int) int64 {
	const key = `"accepted":`
	i := bytes.Index(answer, []byte(key))
	if i < 0 {
		return int64(def)
	}
	rest := answer[i+len(key):]
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	n, err := strconv.ParseInt(string(rest[:j]), 10, 64)
	if err != nil {
		return int64(def)
	}
	return n
}

// waitDrained waits until the sink has every accepted event, no message has
// arrived for 15 s, or max has passed; it returns when it stopped waiting.
func waitDrained(s *sink, want func() int64, max time.Duration) time.Time {
	deadline := time.Now().Add(max)
	lastN, lastChange := s.messages.Load(), time.Now()
	for time.Now().Before(deadline) {
		n := s.messages.Load()
		if n >= want() {
			break
		}
		if n != lastN {
			lastN, lastChange = n, time.Now()
		} else if time.Since(lastChange) > 15*time.Second {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Now()
}

func report(w io.Writer, o options, r *loadResult, s *sink, loadEnd, drainEnd time.Time, deliveredAtEnd int64, cpu time.Duration, inProcess bool) {
	secs := r.elapsed.Seconds()
	fmt.Fprintf(w, "\nintake\n")
	fmt.Fprintf(w, "  requests            %d in %.1fs (%d accepted, %d failed; statuses %v)\n", r.requests, secs, r.ok, r.failed, r.statuses)
	if r.firstErr != "" {
		fmt.Fprintf(w, "  first error         %s\n", r.firstErr)
	}
	fmt.Fprintf(w, "  requests/s          %.0f\n", float64(r.ok)/secs)
	fmt.Fprintf(w, "  events/s accepted   %.0f\n", float64(r.events)/secs)
	fmt.Fprintf(w, "  latency p50 / p99   %s / %s (max %s)\n", pct(r.latencies, 50), pct(r.latencies, 99), pct(r.latencies, 100))
	if s != nil {
		first, last := s.window()
		n := s.messages.Load()
		fmt.Fprintf(w, "delivery (sink)\n")
		fmt.Fprintf(w, "  events received     %d of %d accepted (%d requests, %.1f events/request, %.0f bytes/event)\n",
			n, r.events, s.requests.Load(), float64(n)/float64(max(s.requests.Load(), 1)), float64(s.bytes.Load())/float64(max(n, 1)))
		if n > 0 && last.After(first) {
			fmt.Fprintf(w, "  events/s delivered  %.0f (first to last delivery, %.1fs)\n", float64(n)/last.Sub(first).Seconds(), last.Sub(first).Seconds())
		}
		fmt.Fprintf(w, "  backlog             %d events when sending stopped, %d after waiting %.1fs\n",
			r.events-deliveredAtEnd, max(r.events-n, 0), drainEnd.Sub(loadEnd).Seconds())
	}
	if inProcess && r.events > 0 {
		// CPU time moves far less than wall time when other work shares
		// the cores; it includes the load generator and the sink.
		wall := r.elapsed + drainEnd.Sub(loadEnd)
		fmt.Fprintf(w, "cpu (whole process: bridge, load generator and sink; sending and draining)\n")
		fmt.Fprintf(w, "  cpu time            %.1fs in %.1fs (%.2f cores)\n", cpu.Seconds(), wall.Seconds(), cpu.Seconds()/wall.Seconds())
		fmt.Fprintf(w, "  cpu-µs/event        %.2f (per accepted event)\n", float64(cpu.Microseconds())/float64(r.events))
	}
	if inProcess {
		fmt.Fprintf(w, "memory (whole process: bridge, load generator and sink)\n")
		fmt.Fprintf(w, "  RSS peak / now      %s / %s\n", procStatus("VmHWM"), procStatus("VmRSS"))
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Fprintf(w, "  Go heap in use      %.0f MB, %d GCs\n", float64(ms.HeapInuse)/1e6, ms.NumGC)
	}
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := min(len(sorted)*p/100, len(sorted)-1)
	return sorted[i].Round(10 * time.Microsecond)
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procStatus reads a field of /proc/self/status ("VmHWM": peak RSS).
func procStatus(field string) string {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "n/a"
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "n/a"
}

// loopback reports whether host:port (or host) is a loopback address.
func loopback(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
