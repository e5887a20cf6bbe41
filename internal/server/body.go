package server

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
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

// Decompress decodes raw by its Content-Encoding, the gz=1 flag or its
// magic bytes.
func Decompress(raw []byte, encoding string, gzFlag bool, limit int64) ([]byte, error) {
	out, _, err := decompress(raw, encoding, gzFlag, limit)
	return out, err
}

// decompress is Decompress, also reporting whether the result is a new
// buffer (inflated) rather than raw itself.
func decompress(raw []byte, encoding string, gzFlag bool, limit int64) ([]byte, bool, error) {
	enc := strings.ToLower(strings.TrimSpace(encoding))
	var out []byte
	var err error
	switch {
	case enc == "gzip" || enc == "x-gzip" || bytes.HasPrefix(raw, gzipMagic) || (enc == "" && gzFlag):
		out, err = inflateGzip(raw, limit)
	case enc == "zstd" || bytes.HasPrefix(raw, zstdMagic):
		out, err = inflateZstd(raw, limit)
	case enc == "deflate":
		out, err = inflateDeflate(raw, limit)
	case enc == "" || enc == "identity":
		return raw, false, nil
	default:
		return nil, false, fmt.Errorf("%w: unsupported Content-Encoding %q (gzip, zstd, deflate or none)", errBadEncoding, enc)
	}
	return out, true, err
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
	return readLimitedHint(zr, limit, "gzip", len(raw), gzipSize(raw))
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

// gzipSize reads the inflated size a gzip stream declares in its trailer
// (ISIZE, of the last member, modulo 4 GiB): a hint for the buffer only.
func gzipSize(raw []byte) int64 {
	if len(raw) < 18 {
		return 0
	}
	return int64(binary.LittleEndian.Uint32(raw[len(raw)-4:]))
}

func readLimited(r io.Reader, limit int64, name string, compressed int) ([]byte, error) {
	return readLimitedHint(r, limit, name, compressed, 0)
}

// readLimitedHint reads at most limit bytes of r. hint, the size the
// stream declares, sizes the buffer when it is plausible (at most 64 times
// the compressed size: a lying trailer cannot make a small request
// allocate much); otherwise the buffer starts at 8 times.
func readLimitedHint(r io.Reader, limit int64, name string, compressed int, hint int64) ([]byte, error) {
	size := int64(compressed) * 8
	if hint > 0 && hint <= int64(compressed)*64 {
		size = hint
	}
	// bytes.Buffer.ReadFrom keeps 512 bytes free before each read.
	out := bytes.NewBuffer(make([]byte, 0, min(size, limit)+512))
	n, err := io.Copy(out, io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", errBadEncoding, name, err)
	}
	if n > limit {
		return nil, fmt.Errorf("%w: more than %d bytes after %s decompression", errTooLarge, limit, name)
	}
	return out.Bytes(), nil
}
