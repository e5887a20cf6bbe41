package statsig

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"reflect"
	"runtime"
	"slices"
	"testing"
	"time"
)

// fixtureBatch is a fixture body decoded as the intake decodes it.
type fixtureBatch struct {
	Name  string
	Batch *Batch
}

// fixtureBatches decodes every fixture body as the intake would, into the
// batches the log stores.
func fixtureBatches(t testing.TB) []fixtureBatch {
	t.Helper()
	var out []fixtureBatch
	for _, fb := range fixtureBodies(t) {
		var b *Batch
		var err error
		if fb.Webhook {
			b, _, err = DecodeWebhook(fb.Body, time.UnixMilli(1795541030000), 0)
		} else {
			b, _, err = DecodeRequest(fb.Body, RequestInfo{ReceivedAt: time.UnixMilli(1795541030000), ClientTime: 1795541029000, SDKKey: "k", SDKType: "t"})
		}
		if err != nil {
			t.Fatalf("%s: %v", fb.Name, err)
		}
		out = append(out, fixtureBatch{fb.Name, b})
	}
	return out
}

// checkBinaryMatchesJSON fails unless b stored in the binary encoding
// reads back as b stored as JSON does, and AppendBinary fails exactly
// where AppendJSON does.
func checkBinaryMatchesJSON(t *testing.T, b *Batch) {
	t.Helper()
	js, jsErr := b.AppendJSON(nil)
	bin, binErr := b.AppendBinary([]byte("prefix"))
	if (jsErr == nil) != (binErr == nil) {
		t.Fatalf("encoding %+v: AppendJSON error %v, AppendBinary error %v", b, jsErr, binErr)
	}
	if binErr != nil {
		if string(bin) != "prefix" {
			t.Fatalf("AppendBinary left %q behind after an error", bin)
		}
		return
	}
	bin = bin[len("prefix"):]
	fromJSON, err := DecodeBatch(js)
	if err != nil {
		t.Fatalf("AppendJSON's output does not decode: %v\n%s", err, js)
	}
	fromBin, err := DecodeBatch(bin)
	if err != nil {
		t.Fatalf("AppendBinary's output does not decode: %v\n%q", err, bin)
	}
	if !reflect.DeepEqual(fromBin, fromJSON) {
		t.Fatalf("stored batch read back differs:\nbinary %+v\njson   %+v", fromBin, fromJSON)
	}
	// What reads back encodes to the same bytes: the encoding is stable.
	again, err := fromBin.AppendBinary(nil)
	if err != nil || !bytes.Equal(again, bin) {
		t.Fatalf("re-encoding differs (%v):\n%q\n%q", err, again, bin)
	}
	// Shown as JSON, it is the JSON of what reads back: AppendJSON's
	// output itself unless b held invalid UTF-8.
	shown, err := BatchJSON(bin)
	want, _ := fromJSON.AppendJSON(nil)
	if err != nil || !bytes.Equal(shown, want) {
		t.Fatalf("BatchJSON of the binary batch (%v):\n%s\nwant\n%s", err, shown, want)
	}
}

func TestBinaryBatchReadsBackAsJSONDoesOnFixtures(t *testing.T) {
	for _, fb := range fixtureBatches(t) {
		checkBinaryMatchesJSON(t, fb.Batch)
		bin, err := fb.Batch.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		// Decoding shares the stored bytes instead of copying them.
		got, err := DecodeBatch(bin)
		if err != nil {
			t.Fatal(err)
		}
		clear(bin)
		for i := range got.Events {
			if md := got.Events[i].Metadata; len(md) > 0 && md[0] != 0 {
				t.Fatalf("%s: event %d's metadata is a copy", fb.Name, i)
			}
		}
	}
}

func TestBinaryBatchNormalisesAsAppendJSON(t *testing.T) {
	b := &Batch{
		ID: "b", Source: SourceSDK, ReceivedAt: 1, SDKType: "bad\xffutf8\xfe",
		StatsigMetadata: json.RawMessage(` { "a" : [ 1 , "<x>" ] } `),
		Events: []Event{
			{ID: "e", EventName: "n\xc3", Value: json.RawMessage(`"\u2028"`), User: &User{CustomIDs: map[string]FlexString{}}},
			{ID: "f", User: &User{CustomIDs: map[string]FlexString{"\xff": "1", "\xfe": "2", "a": "3"}}},
			{Metadata: json.RawMessage{}},
		},
	}
	checkBinaryMatchesJSON(t, b)
	bin, _ := b.AppendBinary(nil)
	got, _ := DecodeBatch(bin)
	if got.SDKType != "bad\uFFFDutf8\uFFFD" || got.Events[0].EventName != "n\uFFFD" || string(got.StatsigMetadata) != `{"a":[1,"\u003cx\u003e"]}` {
		t.Fatalf("not normalised as AppendJSON writes it: %+v", got)
	}
	for _, b := range []*Batch{{}, {Events: []Event{}}} {
		checkBinaryMatchesJSON(t, b)
	}
	bad := &Batch{Events: []Event{{User: &User{Custom: json.RawMessage(`{`)}}}}
	if _, err := bad.AppendBinary(nil); err == nil {
		t.Fatal("AppendBinary accepted a raw value that is not JSON")
	}
}

func TestDecodeBatchRefusesCorruptBinary(t *testing.T) {
	fixtures := fixtureBatches(t)
	slices.SortFunc(fixtures, func(a, b fixtureBatch) int { return len(a.Batch.Events) - len(b.Batch.Events) })
	for _, fb := range append(fixtures[:3], fixtures[len(fixtures)-1]) {
		bin, err := fb.Batch.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		// Every truncation is an error, never a shorter batch (of the
		// largest fixture, every 61st).
		step := 1 + len(bin)/2000*60
		for n := 1; n < len(bin); n += step {
			if b, err := DecodeBatch(bin[:n:n]); err == nil || b != nil || !errors.Is(err, ErrCorruptBatch) {
				t.Fatalf("%s cut to %d of %d bytes: %v, %v", fb.Name, n, len(bin), b, err)
			}
		}
		if _, err := DecodeBatch(append(bytes.Clone(bin), 0)); !errors.Is(err, ErrCorruptBatch) {
			t.Fatalf("%s with a byte after it: %v", fb.Name, err)
		}
		later := bytes.Clone(bin)
		later[0] = BinaryBatchVersion + 1
		if _, err := DecodeBatch(later); !errors.Is(err, ErrCorruptBatch) {
			t.Fatalf("%s marked as a later version: %v", fb.Name, err)
		}
	}
	// A count that the bytes left cannot hold is refused before anything
	// is allocated for it.
	for _, huge := range [][]byte{
		{BinaryBatchVersion, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		{BinaryBatchVersion, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := DecodeBatch(huge)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrCorruptBatch) {
			t.Fatalf("huge count: %v", err)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 4096 {
			t.Fatalf("refusing a huge count allocated %d bytes", n)
		}
	}
	// One customIDs key repeated 100,000 times (2 bytes each) makes a map
	// of one entry, not room for 100,000.
	repeated := []byte{BinaryBatchVersion, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}
	repeated = binary.AppendUvarint(repeated, 100_000)
	repeated = append(repeated, make([]byte, 2*100_000+1)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b, err := DecodeBatch(repeated)
	runtime.ReadMemStats(&after)
	if err != nil || len(b.Events[0].User.CustomIDs) != 1 {
		t.Fatalf("repeated customIDs: %v", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > uint64(len(repeated)) {
		t.Fatalf("100,000 repeats of one customIDs key allocated %d bytes for %d of input", n, len(repeated))
	}
}

func TestBatchJSONKeepsJSONAsStored(t *testing.T) {
	stored := []byte(`{"id":"x","source":"sdk","receivedAt":1,"events":[]}`)
	got, err := BatchJSON(stored)
	if err != nil || !bytes.Equal(got, stored) {
		t.Fatalf("BatchJSON of a JSON batch = %s, %v", got, err)
	}
	if _, err := BatchJSON([]byte{BinaryBatchVersion, 5}); !errors.Is(err, ErrCorruptBatch) {
		t.Fatalf("BatchJSON of a corrupt binary batch: %v", err)
	}
}

// FuzzBinaryBatch: every batch the JSON decoder accepts reads back the
// same from the binary encoding as from JSON (checkBinaryMatchesJSON).
func FuzzBinaryBatch(f *testing.F) {
	addFastJSONSeeds(f)
	f.Fuzz(func(t *testing.T, input []byte) {
		if IsBinaryBatch(input) {
			return // FuzzDecodeBinaryBatch's
		}
		b, err := DecodeBatch(input)
		if err != nil {
			return
		}
		checkBinaryMatchesJSON(t, b)
	})
}

// FuzzDecodeBinaryBatch: any bytes marked as a binary batch decode to an
// error or to a batch that re-encodes consistently, without panicking.
func FuzzDecodeBinaryBatch(f *testing.F) {
	for _, fb := range fixtureBatches(f) {
		bin, err := fb.Batch.AppendBinary(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(bin[1:])
	}
	for _, s := range fastJSONSeeds {
		var b Batch
		if json.Unmarshal([]byte(s), &b) != nil {
			continue
		}
		if bin, err := b.AppendBinary(nil); err == nil {
			f.Add(bin[1:])
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, rest []byte) {
		input := append([]byte{BinaryBatchVersion}, rest...)
		b, err := DecodeBatch(input)
		if err != nil {
			if b != nil || !errors.Is(err, ErrCorruptBatch) {
				t.Fatalf("error %v with batch %v", err, b)
			}
			return
		}
		// Raw values are not validated on the way in: AppendBinary may
		// refuse them, as AppendJSON does.
		checkBinaryMatchesJSON(t, b)
	})
}

// BenchmarkStoredBatch encodes and decodes the largest fixture batch (the
// Go SDK's with layers, 147 events) in each stored encoding.
//
// Run: go test -run '^$' -bench StoredBatch -benchmem ./internal/statsig/
func BenchmarkStoredBatch(b *testing.B) {
	fixtures := fixtureBatches(b)
	batch := slices.MaxFunc(fixtures, func(x, y fixtureBatch) int { return len(x.Batch.Events) - len(y.Batch.Events) }).Batch
	for _, enc := range []struct {
		name   string
		append func(*Batch, []byte) ([]byte, error)
	}{
		{"json", (*Batch).AppendJSON},
		{"binary", (*Batch).AppendBinary},
	} {
		stored, err := enc.append(batch, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("encode/"+enc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(stored)))
			buf := make([]byte, 0, 2*len(stored))
			for b.Loop() {
				if _, err := enc.append(batch, buf[:0]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch.Events)), "ns/event")
		})
		b.Run("decode/"+enc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(stored)))
			for b.Loop() {
				if _, err := DecodeBatch(stored); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch.Events)), "ns/event")
		})
	}
}
