package destination_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/mappingconfig"

	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/mapping"
	"github.com/statsig-bridge/statsig-bridge/internal/segment"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// The transform benchmarks run the per-event work of the bridge on the Go
// SDK fixture with layers (147 events: gates, configs, experiments, layers,
// custom events), with no HTTP, compression or log in between:
//
//	intake:  statsig.DecodeRequest → the Batch encoded as the intake stores it
//	deliver: the stored Batch decoded as a destination reads it → mapping →
//	         Track JSON → one Segment /v1/batch body
//	all:     both
//
// Run: go test -run '^$' -bench Transform -benchmem ./internal/destination/
func BenchmarkTransform(b *testing.B) {
	fx := loadTransformFixture(b)
	enc := destination.TrackEncoder{
		Mapper:       mapping.New(mappingconfig.Options{}, func() *statsig.Specs { return fx.specs }, mapping.Library{Name: "statsig-bridge", Version: "bench"}),
		MaxItemBytes: segment.MaxMessageBytes,
	}
	stored := fx.intake(b)
	batch, err := statsig.DecodeBatch(stored)
	if err != nil {
		b.Fatal(err)
	}
	events := len(batch.Events)
	out := make([]byte, 0, segment.MaxBatchBytes)
	payloads := make([][]byte, 0, events)

	// Per-event metrics: an op is a whole request of `events` events. The
	// machine is shared, so besides wall time the process's CPU time is
	// reported too (cpu-ns/event, GC included): it does not grow when
	// another process takes the cores.
	var (
		before    runtime.MemStats
		cpuBefore time.Duration
	)
	start := func(b *testing.B) {
		b.ReportAllocs()
		runtime.ReadMemStats(&before)
		cpuBefore = cpuTime()
	}
	report := func(b *testing.B) {
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		n := float64(b.N * events)
		b.ReportMetric(n/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/event")
		b.ReportMetric(float64((cpuTime()-cpuBefore).Nanoseconds())/n, "cpu-ns/event")
		b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/event")
		b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/n, "B/event")
		b.ReportMetric(0, "ns/op")
	}
	b.Run("intake", func(b *testing.B) {
		start(b)
		for b.Loop() {
			fx.intake(b)
		}
		report(b)
	})
	b.Run("deliver", func(b *testing.B) {
		start(b)
		for b.Loop() {
			out = fx.deliver(b, enc, stored, payloads[:0], out[:0])
		}
		report(b)
	})
	b.Run("all", func(b *testing.B) {
		start(b)
		for b.Loop() {
			out = fx.deliver(b, enc, fx.intake(b), payloads[:0], out[:0])
		}
		report(b)
	})
}

// cpuTime is the CPU time this process has used (user + system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type transformFixture struct {
	body  []byte
	info  statsig.RequestInfo
	specs *statsig.Specs
}

func loadTransformFixture(tb testing.TB) *transformFixture {
	tb.Helper()
	dir := filepath.Join("..", "..", "testdata", "fixtures", "go-sdk-layers")
	gz, err := os.ReadFile(filepath.Join(dir, "log_event-2.body"))
	if err != nil {
		tb.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		tb.Fatal(err)
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "download_config_specs.json"))
	if err != nil {
		tb.Fatal(err)
	}
	specs, err := statsig.ParseSpecs(raw)
	if err != nil {
		tb.Fatal(err)
	}
	// The capture's headers (log_event-2.headers).
	return &transformFixture{
		body:  body,
		specs: specs,
		info: statsig.RequestInfo{
			ReceivedAt: time.UnixMilli(1795541027950),
			ClientTime: 1795541027898,
			SDKKey:     "secret-capture-go-0000000000000000",
			SDKType:    "go-sdk",
			SDKVersion: "v1.35.1",
			SessionID:  "b8f82cde-8f98-437f-9518-9796e9d98f46",
			MaxEvents:  10_000,
		},
	}
}

// intake does what the HTTP intake does with a decompressed body: decode
// it and encode the Batch for the log.
func (fx *transformFixture) intake(tb testing.TB) []byte {
	batch, _, err := statsig.DecodeRequest(fx.body, fx.info)
	if err != nil {
		tb.Fatal(err)
	}
	data, err := batch.AppendBinary(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// deliver does what a destination's Runner does with one log message:
// decode the Batch, map and encode each event, build the /v1/batch body.
func (fx *transformFixture) deliver(tb testing.TB, enc destination.TrackEncoder, stored []byte, payloads [][]byte, out []byte) []byte {
	batch, err := statsig.DecodeBatch(stored)
	if err != nil {
		tb.Fatal(err)
	}
	for i := range batch.Events {
		e := enc.Encode(batch, &batch.Events[i])
		if e.Filtered || e.Invalid {
			continue
		}
		payloads = append(payloads, e.Payload)
	}
	if len(payloads) == 0 {
		tb.Fatal("no event mapped")
	}
	return segment.AppendBatch(out, payloads, time.UnixMilli(1795541028000))
}

// TestTransformFixtureMapsEvents keeps the benchmark honest: the fixture
// must exercise every mapping path, not filter most events away.
func TestTransformFixtureMapsEvents(t *testing.T) {
	fx := loadTransformFixture(t)
	enc := destination.TrackEncoder{
		Mapper:       mapping.New(mappingconfig.Options{}, func() *statsig.Specs { return fx.specs }, mapping.Library{Name: "statsig-bridge", Version: "bench"}),
		MaxItemBytes: segment.MaxMessageBytes,
	}
	batch, err := statsig.DecodeBatch(fx.intake(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(batch.Events) < 100 {
		t.Fatalf("fixture has %d events, want ≥ 100", len(batch.Events))
	}
	kinds := map[statsig.Kind]int{}
	mapped := 0
	for i := range batch.Events {
		e := enc.Encode(batch, &batch.Events[i])
		if !e.Filtered && !e.Invalid {
			mapped++
			kinds[e.Kind]++
		}
	}
	for _, k := range []statsig.Kind{statsig.KindGate, statsig.KindConfig, statsig.KindExperiment, statsig.KindLayer, statsig.KindCustom} {
		if kinds[k] == 0 {
			t.Errorf("no %s event mapped (mapped kinds: %v)", k, kinds)
		}
	}
	if mapped < len(batch.Events)*9/10 {
		t.Errorf("only %d of %d events mapped", mapped, len(batch.Events))
	}
	t.Logf("%d events, %d mapped: %s", len(batch.Events), mapped, strconv.Quote(func() string { s, _ := json.Marshal(kinds); return string(s) }()))
}
