package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
)

// Errors of receiving a body, answered 503 and 408.
var (
	errBusy        = errors.New("the bridge is busy receiving other request bodies; retry later")
	errBodyTimeout = errors.New("the request body did not arrive in time (server.read_timeout): the client sent it too slowly or stalled")
)

// bodyBudget bounds the memory of request bodies being received. Receiving
// a body takes no intake slot, so that a client dribbling its body holds
// no slot and cannot starve the others; the slots bound the decoding and
// the durable write instead. The bytes bodies hold while they arrive are
// bounded here, as much as MaxConcurrent full-size bodies: the bound the
// slots gave when they were taken before the body was read.
type bodyBudget struct {
	max  int64
	used atomic.Int64
}

// take reserves n bytes, or reports that they would exceed the budget.
func (b *bodyBudget) take(n int64) bool {
	if b.used.Add(n) > b.max {
		b.used.Add(-n)
		return false
	}
	return true
}

func (b *bodyBudget) give(n int64) { b.used.Add(-n) }

// maxPrealloc bounds the buffer sized from Content-Length before the bytes
// arrive: a client declaring 10 MB and sending nothing holds 256 KiB, not
// 10 MB. Real SDK bodies are smaller (a Go SDK flush of 1,000 events is
// about 100 KB gzipped) and are read without growing.
const maxPrealloc = 256 << 10

// rawBody is a request body as sent, in a buffer counted against the
// budget until release.
type rawBody struct {
	raw    []byte
	bp     *[]byte // the pooled buffer raw lives in; nil once given back
	held   int64
	budget *bodyBudget
}

// receive reads the body as sent, at most limit bytes, within the read
// deadline the server set from server.read_timeout (past it: errBodyTimeout).
func (s *Server) receive(r *http.Request, limit int64) (*rawBody, error) {
	bp, _ := rawPool.Get().(*[]byte)
	if bp != nil && (int64(cap(*bp)) > limit+1 || !s.budget.take(int64(cap(*bp)))) {
		rawPool.Put(bp) // more than this body may need, or than the budget has left
		bp = nil
	}
	b := &rawBody{bp: bp, budget: s.budget}
	if bp == nil {
		b.bp = new([]byte)
	} else {
		b.held = int64(cap(*bp))
	}
	bp = b.bp
	raw, err := b.read((*bp)[:0], r, limit)
	b.raw = raw
	if err != nil {
		putRaw(bp, raw)
		b.release()
		return nil, err
	}
	return b, nil
}

// read appends the body to buf, at most limit+1 bytes (one more than
// allowed, to tell a body of exactly limit bytes from a larger one),
// growing buf only within the budget.
func (b *rawBody) read(buf []byte, r *http.Request, limit int64) ([]byte, error) {
	most := limit + 1
	if cl := r.ContentLength; cl > 0 && int64(cap(buf)) <= min(cl, limit) {
		// One byte more than the body, so that the read ending it finds
		// room and no growth is needed to see EOF.
		var err error
		if buf, err = b.grow(buf, min(cl+1, most, maxPrealloc)); err != nil {
			return buf, err
		}
	}
	body := io.LimitReader(r.Body, most)
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) >= most {
				break
			}
			var err error
			if buf, err = b.grow(buf, min(max(2*int64(cap(buf)), 4096), most)); err != nil {
				return buf, err
			}
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return buf, errBodyTimeout
			}
			return buf, fmt.Errorf("reading request body: %w", err)
		}
	}
	if int64(len(buf)) > limit {
		return buf, fmt.Errorf("%w: more than %d bytes", errTooLarge, limit)
	}
	return buf, nil
}

// grow makes buf's capacity c, reserving the difference from the budget.
func (b *rawBody) grow(buf []byte, c int64) ([]byte, error) {
	more := c - int64(cap(buf))
	if more <= 0 {
		return buf, nil
	}
	if !b.budget.take(more) {
		return buf, errBusy
	}
	b.held += more
	return slices.Grow(buf, int(c)-len(buf)), nil
}

// inflate decompresses the body as the SDKs send it: by Content-Encoding,
// by the js-client's query gz=1 (it sends no header), or by the magic
// bytes, so a missing header is no failure. The limit applies to the
// decompressed size, and decompression stops there: a gzip bomb is never
// inflated past it. A compressed body's buffer goes back to the pool once
// inflated: only the inflated copy outlives the call. A body sent plain is
// returned as is and its buffer never reused (the batch may point into it).
func (b *rawBody) inflate(encoding string, gzFlag bool, limit int64) ([]byte, error) {
	body, inflated, err := decompress(b.raw, encoding, gzFlag, limit)
	if (inflated || err != nil) && b.bp != nil {
		putRaw(b.bp, b.raw)
		b.bp = nil
	}
	return body, err
}

// release gives the body's bytes back to the budget; the buffer, unless
// inflate pooled it, stays with the body.
func (b *rawBody) release() {
	b.budget.give(b.held)
	b.held = 0
}

// rawPool holds buffers for compressed request bodies.
var rawPool sync.Pool

// maxPooledRaw bounds the buffers kept in rawPool.
const maxPooledRaw = 1 << 20

func putRaw(bp *[]byte, raw []byte) {
	if cap(raw) <= maxPooledRaw {
		*bp = raw[:0]
		rawPool.Put(bp)
	}
}
