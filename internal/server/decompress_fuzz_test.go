package server

import (
	"bytes"
	"compress/flate"
	stdgzip "compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// FuzzDecompress holds the body decompression to its contract: an inflated
// result never exceeds the limit, every failure is a too-large or a bad-encoding
// error (413 and 400), gzip agrees with the standard library's reader, an
// unencoded body is returned as is, and a body compressed with gzip, zstd,
// zlib or raw deflate comes back byte for byte (or too large).
func FuzzDecompress(f *testing.F) {
	f.Add([]byte(`{"events":[]}`), "", false, uint8(0), uint16(100))
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "", false, uint8(1), uint16(10))
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x24, 0x00, 0x01, 0x00, 0x00}, "zstd", false, uint8(2), uint16(1))
	f.Add([]byte("x"), "x-gzip", true, uint8(3), uint16(0))
	f.Add([]byte("x"), "br", true, uint8(4), uint16(5))
	f.Fuzz(func(t *testing.T, data []byte, encoding string, gzFlag bool, mode uint8, limit16 uint16) {
		limit := int64(limit16) + 1
		out, err := Decompress(data, encoding, gzFlag, limit)
		if err != nil && !errors.Is(err, errTooLarge) && !errors.Is(err, errBadEncoding) {
			t.Fatalf("error of neither kind: %v", err)
		}
		enc := strings.ToLower(strings.TrimSpace(encoding))
		gz := enc == "gzip" || enc == "x-gzip" || bytes.HasPrefix(data, gzipMagic) || (enc == "" && gzFlag)
		plain := !gz && (enc == "" || enc == "identity") && !bytes.HasPrefix(data, zstdMagic)
		// The limit bounds inflating; a plain body was bounded as it was read.
		if !plain && int64(len(out)) > limit {
			t.Fatalf("%d bytes out, limit %d", len(out), limit)
		}
		switch {
		case gz:
			ref, refErr := readAllLimited(func() (io.Reader, error) { return stdgzip.NewReader(bytes.NewReader(data)) }, limit)
			switch {
			case refErr == nil && int64(len(ref)) > limit:
				if !errors.Is(err, errTooLarge) {
					t.Fatalf("gzip inflating past %d bytes: %v", limit, err)
				}
			case refErr == nil && (err != nil || !bytes.Equal(out, ref)):
				t.Fatalf("gzip: %q (%v), the standard library reads %q", out, err, ref)
			case refErr != nil && err == nil:
				t.Fatalf("gzip: %q, the standard library says %v", out, refErr)
			}
		case plain:
			if err != nil || !bytes.Equal(out, data) {
				t.Fatalf("unencoded body came back as %q (%v)", out, err)
			}
		}

		// Round trip through each encoder.
		var comp []byte
		var name string
		switch mode % 4 {
		case 0:
			var b bytes.Buffer
			w := stdgzip.NewWriter(&b)
			w.Write(data)
			w.Close()
			comp, name = b.Bytes(), "gzip"
		case 1:
			comp, name = zstdRoundTrip.EncodeAll(data, nil), "zstd"
		case 2:
			var b bytes.Buffer
			w := zlib.NewWriter(&b)
			w.Write(data)
			w.Close()
			comp, name = b.Bytes(), "deflate"
		case 3:
			var b bytes.Buffer
			w, _ := flate.NewWriter(&b, flate.DefaultCompression)
			w.Write(data)
			w.Close()
			comp, name = b.Bytes(), "deflate"
		}
		got, err := Decompress(comp, name, false, limit)
		if int64(len(data)) > limit {
			if !errors.Is(err, errTooLarge) {
				t.Fatalf("%s of %d bytes, limit %d: %v", name, len(data), limit, err)
			}
		} else if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s round trip: %q (%v), want %q", name, got, err, data)
		}
	})
}

var zstdRoundTrip, _ = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))

// readAllLimited reads at most limit+1 bytes of the reader open returns.
func readAllLimited(open func() (io.Reader, error), limit int64) ([]byte, error) {
	r, err := open()
	if err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(r, limit+1))
}
