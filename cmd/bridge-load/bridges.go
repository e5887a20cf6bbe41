package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// bridgeProcs are `statsig-bridge serve` processes started by -bridges N:
// all on one external NATS server, sharing one stream (named for this run)
// and the destination "segment", whose durable consumer spreads the log
// over them.
type bridgeProcs struct {
	cmds    []*exec.Cmd
	urls    []string
	dir     string
	stream  string
	natsURL string
}

// startBridgeProcs writes one config file and starts o.bridges processes
// with it, each on its own loopback port and data dir, delivering to
// sinkURL; it returns once every one answers /readyz.
func startBridgeProcs(o options, sinkURL string) (*bridgeProcs, error) {
	if o.bin == "" {
		return nil, errors.New("-bridges needs -bin: go build -o /tmp/statsig-bridge ./cmd/statsig-bridge")
	}
	if o.natsURL == "" {
		return nil, errors.New("-bridges needs -nats (or BRIDGE_TEST_NATS_URL): an external JetStream server")
	}
	for _, u := range strings.Split(o.natsURL, ",") {
		pu, err := url.Parse(u)
		if err != nil || !loopback(pu.Host) {
			return nil, fmt.Errorf("-nats %s: only a NATS server on a loopback address may be used", u)
		}
	}
	dir, err := os.MkdirTemp("", "bridge-load-procs-")
	if err != nil {
		return nil, err
	}
	id := fmt.Sprintf("%d_%d", os.Getpid(), time.Now().UnixNano())
	bp := &bridgeProcs{dir: dir, stream: "LOAD_EVENTS_" + id, natsURL: o.natsURL}
	delivery := ""
	if o.delivery > 0 {
		delivery = fmt.Sprintf("\n    delivery: {concurrency: %d}", o.delivery)
	}
	cfg := fmt.Sprintf(`listen: ${BRIDGE_LISTEN}
data_dir: ${BRIDGE_DATA_DIR}
log_level: %s
log:
  nats_url: %q
  max_bytes: %d
  dead_letter_max_bytes: 67108864
  stream: %s
  subject: load.%s.events
  dead_letter_stream: LOAD_DEADLETTER_%s
  dead_letter_subject: load.%s.deadletter
destinations:
  - name: segment
    type: segment
    segment: {write_key: load-write-key, endpoint: %q}
    mapping: {experiments: ["load_*_experiment"]}%s
`, o.logLevel, o.natsURL, o.logMaxBytes, bp.stream, id, id, id, sinkURL, delivery)
	path := filepath.Join(dir, "bridge.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	for i := range o.bridges {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			bp.stop()
			return nil, err
		}
		addr := ln.Addr().String()
		ln.Close()
		data := filepath.Join(dir, "data-"+strconv.Itoa(i))
		cmd := exec.Command(o.bin, "serve", "--config", path)
		cmd.Env = append(os.Environ(), "BRIDGE_LISTEN="+addr, "BRIDGE_DATA_DIR="+data)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			bp.stop()
			return nil, fmt.Errorf("starting %s: %w", o.bin, err)
		}
		bp.cmds = append(bp.cmds, cmd)
		bp.urls = append(bp.urls, "http://"+addr)
	}
	deadline := time.Now().Add(60 * time.Second)
	for _, u := range bp.urls {
		for {
			resp, err := http.Get(u + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				bp.stop()
				return nil, fmt.Errorf("bridge process at %s not ready after 60s", u)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return bp, nil
}

// cpu is the user and system CPU time the processes have used so far.
func (bp *bridgeProcs) cpu() time.Duration {
	var total time.Duration
	for _, c := range bp.cmds {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.Process.Pid))
		if err != nil {
			continue
		}
		// Fields after the command name (which may hold spaces): state is
		// field 3, utime 14 and stime 15, in clock ticks of 1/100 s.
		rest := string(raw[strings.LastIndexByte(string(raw), ')')+2:])
		f := strings.Fields(rest)
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(ut+st) * 10 * time.Millisecond
	}
	return total
}

// stop ends the processes (SIGTERM, then SIGKILL after 30 s), deletes this
// run's streams from the NATS server and removes the data dirs.
func (bp *bridgeProcs) stop() {
	for _, c := range bp.cmds {
		_ = c.Process.Signal(syscall.SIGTERM)
	}
	for _, c := range bp.cmds {
		done := make(chan struct{})
		go func() { _ = c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = c.Process.Kill()
			<-done
		}
	}
	bp.cmds = nil
	if nc, err := nats.Connect(bp.natsURL, nats.Name("bridge-load")); err == nil {
		if js, err := jetstream.New(nc); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			for _, s := range []string{bp.stream, strings.Replace(bp.stream, "LOAD_EVENTS_", "LOAD_DEADLETTER_", 1), bp.stream + "_STATS"} {
				if err := js.DeleteStream(ctx, s); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
					fmt.Fprintf(os.Stderr, "bridge-load: deleting stream %s: %v\n", s, err)
				}
			}
			cancel()
		}
		nc.Close()
	}
	os.RemoveAll(bp.dir)
}
