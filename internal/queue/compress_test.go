package queue

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// A batch is stored compressed when that is smaller, and read back byte for
// byte; incompressible bytes are stored as they are; a batch an older
// bridge stored without the header is read as it is.
func TestStoredBatchesAreCompressedAndReadBack(t *testing.T) {
	l := openLog(t, embeddedBackend(t))
	c := openConsumer(t, l, "alpha", ConsumerOptions{})
	ctx := testContext(t)

	jsonBatch := []byte(`{"id":"b1","events":[` + strings.Repeat(`{"eventName":"statsig::gate_exposure","user":{"userID":"u-123"},"metadata":{"gate":"new_checkout","gateValue":"true"}},`, 200) + `{}]}`)
	random := make([]byte, 64<<10)
	rand.Read(random)
	for _, data := range [][]byte{jsonBatch, random} {
		if _, err := l.Publish(ctx, bytes.Clone(data), ""); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	// As a bridge before compression stored it: no header.
	if _, err := l.js.PublishMsg(ctx, &nats.Msg{Subject: l.cfg.Subject, Data: []byte(`{"id":"old"}`)}); err != nil {
		t.Fatalf("publishing an uncompressed batch: %v", err)
	}

	msgs := fetchAll(t, c, 3, 10*time.Second)
	if got := mustData(t, msgs[0]); !bytes.Equal(got, jsonBatch) {
		t.Fatalf("JSON batch read back differs: %d bytes, want %d", len(got), len(jsonBatch))
	}
	if stored := len(msgs[0].Stored()); stored*4 > len(jsonBatch) {
		t.Fatalf("JSON batch of %d bytes stored in %d: want it compressed", len(jsonBatch), stored)
	}
	if got := mustData(t, msgs[1]); !bytes.Equal(got, random) {
		t.Fatal("random batch read back differs")
	}
	if !bytes.Equal(msgs[1].Stored(), random) || msgs[1].msg.Headers().Get(EncodingHeader) != "" {
		t.Fatal("incompressible batch: want it stored as published, without the encoding header")
	}
	if got := string(mustData(t, msgs[2])); got != `{"id":"old"}` {
		t.Fatalf("uncompressed batch read back as %q", got)
	}
	ackAll(t, msgs)
}

// Bytes that cannot be read back are an error naming the problem, never
// a batch.
func TestDecodeBatchRefusesWhatItCannotRead(t *testing.T) {
	for _, tc := range []struct {
		name, enc, want string
		data            []byte
	}{
		{"corrupt", encodingS2, "S2", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02}},
		{"truncated", encodingS2, "S2", compressBatch("s", bytes.Repeat([]byte("abcdefgh"), 1000)).Data[:20]},
		{"unknown encoding", "zstd", `"zstd"`, []byte("x")},
	} {
		_, err := decodeBatch(nats.Header{EncodingHeader: []string{tc.enc}}, tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one naming %s", tc.name, err, tc.want)
		}
	}
}

// FuzzStoredBatch: any bytes round-trip through the stored form, and
// reading any bytes marked S2 fails or succeeds without panicking or
// allocating past a batch's bound.
func FuzzStoredBatch(f *testing.F) {
	f.Add([]byte(`{"events":[{"eventName":"statsig::gate_exposure"}]}`))
	f.Add(bytes.Repeat([]byte(`{"a":1}`), 100))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		m := compressBatch("s", data)
		got, err := decodeBatch(m.Header, m.Data)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("round trip of %d bytes: %d bytes back, %v", len(data), len(got), err)
		}
		if out, err := decodeBatch(nats.Header{EncodingHeader: []string{encodingS2}}, data); err == nil && len(out) > maxStoredBatch {
			t.Fatalf("decoded %d bytes, over the bound", len(out))
		}
	})
}
