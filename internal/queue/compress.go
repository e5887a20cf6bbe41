package queue

import (
	"fmt"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/nats-io/nats.go"
)

// Batches are stored S2-compressed (klauspost/compress/s2, the block
// format), marked by a header; a batch without it is stored as published.
// SDK batches are repetitive (intake stores statsig's binary encoding:
// mostly raw JSON values and repeated strings): S2 stores the Go SDK
// fixtures' batches of 32–147 events in a quarter to a sixth of the bytes
// (as JSON, a sixth to a seventh), for ≈ 0.1 µs of CPU per event (≈ 0.07
// µs to read back). The log neither knows nor cares what the bytes are.
//
// Why: the embedded JetStream keeps the message blocks it wrote or read in
// the last 10 s cached, in this process's heap, and copies each message
// into its block, over the connection and to disk. Uncompressed (≈ 500–600
// B an event) that cache alone was ≈ 0.5–1 GB at 100–150k events/s; the
// copies and writes shrink with it (BENCHMARKS.md, "Throughput and memory
// (issue 13)"). The log also holds 5–8× more backlog within log.max_bytes.
const (
	// EncodingHeader names how a stored batch is encoded.
	EncodingHeader = "Bridge-Encoding"
	// encodingS2 is the S2 block format.
	encodingS2 = "s2"
)

// compressPool holds scratch buffers for S2's output, sized to the worst
// case of a max_msg_size batch on first use.
var compressPool sync.Pool

// compressBatch returns the message to publish for data: S2-compressed
// with the header when that is smaller, data as it is otherwise. The
// message's data never shares data's memory, nor a pooled buffer: the
// client may resend it after a reconnect.
func compressBatch(subject string, data []byte) *nats.Msg {
	bp, _ := compressPool.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	if n := s2.MaxEncodedLen(len(data)); n > 0 && cap(*bp) < n {
		*bp = make([]byte, n)
	}
	enc := s2.Encode((*bp)[:cap(*bp)], data)
	msg := &nats.Msg{Subject: subject}
	if len(enc)+len(EncodingHeader)+len(encodingS2)+4 < len(data) {
		msg.Data = append([]byte(nil), enc...)
		msg.Header = nats.Header{EncodingHeader: []string{encodingS2}}
	} else {
		msg.Data = data
	}
	if cap(*bp) <= maxPooledCompress {
		compressPool.Put(bp)
	}
	return msg
}

// maxStoredBatch is the most a stored batch can hold decompressed: the
// largest max_msg_size Config.Validate accepts.
const maxStoredBatch = 64 << 20

// maxPooledCompress bounds the scratch buffers kept in compressPool (the
// default max_msg_size, 4 MiB, fits).
const maxPooledCompress = 5 << 20

// decodeBatch returns a stored batch as it was published.
func decodeBatch(header nats.Header, data []byte) ([]byte, error) {
	switch enc := header.Get(EncodingHeader); enc {
	case "":
		return data, nil
	case encodingS2:
		n, err := s2.DecodedLen(data)
		if err != nil {
			return nil, fmt.Errorf("reading S2-compressed batch: %w", err)
		}
		if n > maxStoredBatch {
			// A damaged length must not make the reader allocate it.
			return nil, fmt.Errorf("S2-compressed batch claims %d bytes, over the %d a batch can have", n, maxStoredBatch)
		}
		out, err := s2.Decode(make([]byte, n), data)
		if err != nil {
			return nil, fmt.Errorf("decompressing S2 batch: %w", err)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("stored batch has %s %q: this bridge reads only %q (a newer version wrote it?)", EncodingHeader, enc, encodingS2)
	}
}
