package server

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Body errors, answered 413 and 400.
var (
	errTooLarge    = errors.New("request body too large")
	errBadEncoding = errors.New("request body encoding is invalid")
)

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// maxZstdWindow is the largest zstd window a body may declare. The decoder
// allocates the declared window up front, so without a cap a 100-byte frame
// declaring 512 MiB costs 512 MiB per request. Encoders declare at most 8 MiB
// (the format's recommended decoder minimum) unless asked for long-distance
// mode, and node-core sends single-segment frames sized to their content.
const maxZstdWindow = 16 << 20

var zstdPool = sync.Pool{New: func() any {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(maxZstdWindow))
	if err != nil {
		panic(err) // only on invalid options
	}
	return d
}}

var gzipPool sync.Pool

// readBody reads a request body, decompressing gzip, zstd or deflate as the
// SDKs send them: by Content-Encoding, by the js-client's query gz=1 (it
// sends no header), or by the magic bytes, so a missing header is no failure.
// The limit applies to the decompressed size, and decompression stops there:
// a gzip bomb is never inflated past it.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	raw, err := readRaw(r, limit)
	if err != nil {
		return nil, err
	}
	return Decompress(raw, r.Header.Get("Content-Encoding"), r.URL.Query().Get("gz") == "1", limit)
}

// readRaw reads the body as sent, at most limit bytes.
func readRaw(r *http.Request, limit int64) ([]byte, error) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading request body: %w", err)
	}
	if int64(len(raw)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", errTooLarge, limit)
	}
	return raw, nil
}

// Decompress decodes raw by its Content-Encoding, the gz=1 flag or its
// magic bytes.
func Decompress(raw []byte, encoding string, gzFlag bool, limit int64) ([]byte, error) {
	enc := strings.ToLower(strings.TrimSpace(encoding))
	switch {
	case enc == "gzip" || enc == "x-gzip" || bytes.HasPrefix(raw, gzipMagic) || (enc == "" && gzFlag):
		return inflateGzip(raw, limit)
	case enc == "zstd" || bytes.HasPrefix(raw, zstdMagic):
		return inflateZstd(raw, limit)
	case enc == "deflate":
		return inflateDeflate(raw, limit)
	case enc == "" || enc == "identity":
		return raw, nil
	}
	return nil, fmt.Errorf("%w: unsupported Content-Encoding %q (gzip, zstd, deflate or none)", errBadEncoding, enc)
}

func inflateGzip(raw []byte, limit int64) ([]byte, error) {
	zr, _ := gzipPool.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(bytes.NewReader(raw))
	} else {
		err = zr.Reset(bytes.NewReader(raw))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: gzip: %v", errBadEncoding, err)
	}
	defer gzipPool.Put(zr)
	return readLimited(zr, limit, "gzip", len(raw))
}

func inflateZstd(raw []byte, limit int64) ([]byte, error) {
	d := zstdPool.Get().(*zstd.Decoder)
	defer zstdPool.Put(d)
	if err := d.Reset(bytes.NewReader(raw)); err != nil {
		return nil, fmt.Errorf("%w: zstd: %v", errBadEncoding, err)
	}
	return readLimited(d, limit, "zstd", len(raw))
}

func inflateDeflate(raw []byte, limit int64) ([]byte, error) {
	var r io.ReadCloser
	if zr, err := zlib.NewReader(bytes.NewReader(raw)); err == nil {
		r = zr
	} else {
		r = flate.NewReader(bytes.NewReader(raw))
	}
	defer r.Close()
	return readLimited(r, limit, "deflate", len(raw))
}

func readLimited(r io.Reader, limit int64, name string, compressed int) ([]byte, error) {
	out := bytes.NewBuffer(make([]byte, 0, min(int64(compressed)*8, limit)+512))
	n, err := io.Copy(out, io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", errBadEncoding, name, err)
	}
	if n > limit {
		return nil, fmt.Errorf("%w: more than %d bytes after %s decompression", errTooLarge, limit, name)
	}
	return out.Bytes(), nil
}
