package backfill_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/statsig-bridge/statsig-bridge/internal/backfill"
	"github.com/statsig-bridge/statsig-bridge/internal/cli"
	"github.com/statsig-bridge/statsig-bridge/internal/queue"
	"github.com/statsig-bridge/statsig-bridge/internal/server"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// FuzzImport imports a fuzzed file (JSON lines, an SDK body, a webhook
// batch, gzip or not) into the real intake over loopback HTTP; a capture
// stands in for the log behind it. Whatever the file holds:
//   - the import fails exactly when reading the file as a whole
//     (cli.DecodeAny, the preview's reader) fails;
//   - otherwise every event it holds arrives once, in order, and the intake
//     accepts it: same name, time, user, value and metadata as read from
//     the file (original times kept);
//   - a second import of the same file sends the same event IDs.
func FuzzImport(f *testing.F) {
	for _, body := range fixtureBodies(f) {
		f.Add(body, false, uint8(0))
		f.Add(bytes.ReplaceAll(body, []byte("\n"), nil), true, uint8(7))
	}
	f.Add([]byte("{\"eventName\":\"a\",\"time\":1700000000000,\"user\":{\"userID\":\"u\"}}\n\n[{\"eventName\":\"b\",\"timeUUID\":\"t\"}]\n{\"data\":[{\"eventName\":\"c\",\"timestamp\":\"1700000000001\"}]}\r\n"), false, uint8(1))
	f.Add([]byte("{\n  \"events\": [ {\"eventName\": \"pretty\"} ],\n  \"user\": {\"userID\": \"x\"}\n}\n"), true, uint8(2))
	f.Add([]byte("{\"eventName\":\"a\"}\nnot json\n"), false, uint8(0))
	f.Add([]byte(`{"events":[{"eventName":"<b>\u2028","time":"2024-01-02T03:04:05Z","value":1.0,"metadata":{"a":"<&>","a":2}},{"eventName":"x","time":-5,"user":{"userID":12345678901234567890}}],"user":{"customIDs":{"stableID":"s"}},"statsigMetadata":{"stableID":"s2","sessionID":"q"}}`), false, uint8(1))
	in := newIntake(f)
	f.Fuzz(func(t *testing.T, content []byte, gz bool, batch uint8) {
		if len(content) > 64<<10 {
			return
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "events.jsonl")
		data := content
		if gz {
			var b bytes.Buffer
			w := gzip.NewWriter(&b)
			w.Write(content)
			w.Close()
			data = b.Bytes()
		} else if bytes.HasPrefix(content, []byte{0x1f, 0x8b}) {
			return // read as gzip: not this content
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		want, refErr := cli.DecodeAny(content, statsig.RequestInfo{ReceivedAt: time.Now()})
		var wantEvents []statsig.Event
		for _, b := range want {
			wantEvents = append(wantEvents, b.Events...)
		}

		run := func() ([]statsig.Event, backfill.Result, error) {
			in.reset()
			im := &backfill.Importer{URL: in.URL, APIKey: "fuzz-key", BatchEvents: int(batch%16) + 1, Decode: cli.DecodeAny,
				StatePath: filepath.Join(dir, "position")}
			res, err := im.Run(context.Background(), []string{path})
			return in.events(t), res, err
		}
		if len(bytes.TrimSpace(content)) == 0 {
			refErr = nil // an empty file imports nothing
		}
		got, res, err := run()
		if (err != nil) != (refErr != nil) {
			t.Fatalf("import: %v; reading the file whole: %v", err, refErr)
		}
		if err != nil {
			return
		}
		if res.Rejected != 0 || res.Events != int64(len(wantEvents)) || len(got) != len(wantEvents) {
			t.Fatalf("import: %+v, %d events stored; the file holds %d", res, len(got), len(wantEvents))
		}
		for i := range got {
			g, _ := json.Marshal(comparable(got[i]))
			w, _ := json.Marshal(comparable(wantEvents[i]))
			if !bytes.Equal(g, w) {
				t.Fatalf("event %d stored as\n%s\nthe file has\n%s", i, g, w)
			}
		}
		again, _, err := run()
		if err != nil {
			t.Fatalf("second import: %v", err)
		}
		for i := range again {
			if again[i].ID != got[i].ID {
				t.Fatalf("event %d: ID %s, then %s on a second import", i, got[i].ID, again[i].ID)
			}
		}
	})
}

// comparable is what an import must keep of an event: all but its ID,
// the JSON fields compacted.
func comparable(e statsig.Event) statsig.Event {
	e.ID = ""
	for _, raw := range []*json.RawMessage{&e.Value, &e.Metadata, &e.SecondaryExposures, &e.StatsigMetadata} {
		if len(*raw) > 0 {
			var b bytes.Buffer
			if json.Compact(&b, *raw) == nil {
				*raw = b.Bytes()
			}
		}
	}
	return e
}

// intake is the bridge's real intake on loopback, with a capture for a log.
type intake struct {
	URL string
	mu  sync.Mutex
	raw [][]byte
}

func newIntake(t testing.TB) *intake {
	in := &intake{}
	srv := server.New(server.Config{AllowAnyKey: true}, in, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	in.URL = ts.URL
	return in
}

func (in *intake) Store(_ context.Context, data []byte, _ string) (queue.Stored, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.raw = append(in.raw, bytes.Clone(data))
	return queue.Stored{Seq: uint64(len(in.raw))}, nil
}

func (in *intake) Ready(context.Context) error { return nil }

func (in *intake) reset() {
	in.mu.Lock()
	in.raw = nil
	in.mu.Unlock()
}

// events decodes the stored batches, in order.
func (in *intake) events(t *testing.T) []statsig.Event {
	in.mu.Lock()
	defer in.mu.Unlock()
	var out []statsig.Event
	for _, raw := range in.raw {
		b, err := statsig.DecodeBatch(raw)
		if err != nil {
			t.Fatalf("stored batch: %v", err)
		}
		if b.Source != statsig.SourceImport {
			t.Fatalf("stored batch source %q, want import", b.Source)
		}
		out = append(out, b.Events...)
	}
	return out
}

// fixtureBodies returns every fixture body, decompressed.
func fixtureBodies(t testing.TB) [][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "..", "testdata", "fixtures", "*", "*.body"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	slices.Sort(paths)
	zr, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var out [][]byte
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case bytes.HasPrefix(raw, []byte{0x1f, 0x8b}):
			r, err := gzip.NewReader(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if _, err := b.ReadFrom(r); err != nil {
				t.Fatal(err)
			}
			raw = b.Bytes()
		case bytes.HasPrefix(raw, []byte{0x28, 0xb5, 0x2f, 0xfd}):
			if raw, err = zr.DecodeAll(raw, nil); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, bytes.TrimSpace(raw))
	}
	return out
}
