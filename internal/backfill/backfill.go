// Package backfill loads historical Statsig events into a running bridge:
// it reads files of events (JSON lines, SDK request bodies, webhook
// batches, gzip or not), re-sends them as SDK requests to the bridge's
// intake over HTTP, and keeps the position of the last acknowledged
// request so that an interrupted import resumes where it stopped.
//
// It owns no log and no destination: the intake stores every request in
// the durable log and the destinations deliver it, exactly as for live
// traffic. It must not change event times: requests carry no
// STATSIG-CLIENT-TIME, so no clock-skew correction applies.
package backfill

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/delivery"
	"github.com/statsig-bridge/statsig-bridge/internal/httpsend"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// Defaults.
const (
	// DefaultBatchEvents is the events per request; the bridge accepts
	// 10,000 by default (intake.max_events).
	DefaultBatchEvents = 500
	// DefaultMaxDocumentBytes bounds a file that is one JSON document
	// (not JSON lines): it is decoded in memory.
	DefaultMaxDocumentBytes = 1 << 30
	// maxNetworkAttempts bounds the attempts of a request that gets no
	// answer at all (connection refused, reset); 429 and 5xx answers are
	// retried for as long as the bridge asks.
	maxNetworkAttempts = 8
)

// Decoder decodes one JSON line or document into batches (cli.DecodeAny).
type Decoder func(raw []byte, info statsig.RequestInfo) ([]*statsig.Batch, error)

// Importer re-sends the events of files to a bridge's intake.
type Importer struct {
	// URL is the bridge's base URL (http://host:port).
	URL string
	// APIKey is sent as STATSIG-API-KEY; the intake folds it into every
	// event's identity, so a re-import must use the same key.
	APIKey string
	// BatchEvents is the events per request (DefaultBatchEvents if 0). The
	// messageIds depend on it: re-import with the same value.
	BatchEvents int
	// Rate limits the events sent per second (0: no limit).
	Rate float64
	// Resume keeps a position file per input and starts from it.
	Resume bool
	// StatePath is the position file (default FILE.import-position); with
	// several files, each gets StatePath + "." + its index.
	StatePath string
	Decode    Decoder
	HTTP      *http.Client
	// Progress receives the progress display (nil: none).
	Progress *Progress
	// MaxDocumentBytes bounds a one-document file (DefaultMaxDocumentBytes if 0).
	MaxDocumentBytes int64
	// Backoff is the first wait after a 429/5xx without Retry-After (default 500 ms).
	Backoff time.Duration

	limiter *delivery.Ceiling
}

// Result counts what an import did.
type Result struct {
	Files    int
	Events   int64
	Requests int64
	Rejected int64
	// Duplicates are events (counted in Events) of requests the bridge had
	// stored already: the same request within its log's 2-minute duplicate
	// window, as when the same file is imported twice in a row.
	Duplicates int64
}

// RequestError is a request the bridge refused for good (a 4xx other than
// 429): resending it would not help.
type RequestError struct {
	File            string
	FirstLine, Line int
	Code            int
	Message         string
}

func (e *RequestError) Error() string {
	lines := "line " + strconv.Itoa(e.FirstLine)
	if e.Line != e.FirstLine {
		lines = fmt.Sprintf("lines %d-%d", e.FirstLine, e.Line)
	}
	hint := ""
	if e.Code == http.StatusUnauthorized {
		hint = " (check --api-key)"
	}
	return fmt.Sprintf("%s, %s: the bridge refused the request (%d): %s%s", e.File, lines, e.Code, e.Message, hint)
}

// position is where an import stands in a file: the next event to send is
// event Event of source Line (1-based; a JSON line, or a batch of a
// one-document file), which starts at byte Offset of the decompressed
// input (JSON lines only).
type position struct {
	Line   int   `json:"line"`
	Event  int   `json:"event"`
	Offset int64 `json:"offset"`
}

// state is the position file's content.
type state struct {
	File        string `json:"file"`
	FileID      string `json:"fileId"`
	BatchEvents int    `json:"batchEvents"`
	Mode        string `json:"mode"`
	position
	// Chunk is the number of requests acknowledged so far: it names the
	// next request's session, so a resumed import sends the same requests.
	Chunk  int   `json:"chunk"`
	Events int64 `json:"events"`
	Done   bool  `json:"done,omitempty"`
}

const (
	modeLines    = "lines"
	modeDocument = "document"
)

// Run imports files in order.
func (im *Importer) Run(ctx context.Context, files []string) (Result, error) {
	if im.BatchEvents <= 0 {
		im.BatchEvents = DefaultBatchEvents
	}
	if im.MaxDocumentBytes <= 0 {
		im.MaxDocumentBytes = DefaultMaxDocumentBytes
	}
	if im.HTTP == nil {
		im.HTTP = &http.Client{Timeout: 60 * time.Second}
	}
	if im.Backoff <= 0 {
		im.Backoff = 500 * time.Millisecond
	}
	if im.Rate > 0 {
		// A ceiling in every second, the first included: whole requests
		// of BatchEvents, evenly spaced, as many a second as fit in Rate
		// (the batch size cannot bend to the rate: messageIds depend on it).
		perSecond := int(im.Rate) / im.BatchEvents
		if perSecond < 1 {
			return Result{}, fmt.Errorf("--rate %d is below --batch %d: one request alone would exceed it; use a --batch of %d or less", int(im.Rate), im.BatchEvents, int(im.Rate))
		}
		im.limiter = delivery.NewCeiling(float64(perSecond))
	}
	var total int64
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return Result{}, fmt.Errorf("reading %s: %w", f, err)
		}
		total += st.Size()
	}
	im.Progress.start(total)
	var res Result
	for i, f := range files {
		statePath := im.StatePath
		switch {
		case statePath == "":
			statePath = f + ".import-position"
		case len(files) > 1:
			statePath += "." + strconv.Itoa(i)
		}
		err := im.importFile(ctx, f, statePath, &res)
		if err != nil {
			im.Progress.finish(err)
			return res, err
		}
		res.Files++
	}
	im.Progress.finish(nil)
	return res, nil
}

// fileID identifies an input for sessions and position files: its base name
// and size, so a copy of the same export elsewhere gives the same IDs.
func fileID(path string, size int64) string {
	sum := sha256.Sum256([]byte(filepath.Base(path) + "\x00" + strconv.FormatInt(size, 10)))
	return hex.EncodeToString(sum[:8])
}

func (im *Importer) importFile(ctx context.Context, path, statePath string, res *Result) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	st := state{File: path, FileID: fileID(path, fi.Size()), BatchEvents: im.BatchEvents}
	if im.Resume {
		if raw, err := os.ReadFile(statePath); err == nil {
			var saved state
			if err := json.Unmarshal(raw, &saved); err != nil {
				return fmt.Errorf("reading the position file %s: %w", statePath, err)
			}
			if saved.FileID != st.FileID {
				return fmt.Errorf("the position file %s is for another file (name or size differ); remove it to start over", statePath)
			}
			if saved.BatchEvents != im.BatchEvents {
				return fmt.Errorf("the position file %s was written with --batch %d; resume with the same value (messageIds depend on it)", statePath, saved.BatchEvents)
			}
			st = saved
			if st.Done {
				im.Progress.note(fmt.Sprintf("%s: already imported (%d events; %s says done)", path, st.Events, statePath))
				im.Progress.skipBytes(fi.Size())
				return nil
			}
			if st.Line > 0 {
				im.Progress.note(fmt.Sprintf("%s: resuming at line %d, event %d (%d events sent before)", path, st.Line, st.Event, st.Events))
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("reading the position file: %w", err)
		}
	}
	counted := &countingReader{r: f}
	br := bufio.NewReaderSize(counted, 1<<20)
	var in io.Reader = br
	w := &chunker{im: im, path: path, st: &st, statePath: statePath, res: res}
	// Progress moves with the events sent, not with what is read ahead:
	// the offset after the last event sent, or for compressed input the
	// compressed bytes the decompressor has taken.
	w.consumed = func() int64 { return w.next.Offset }
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		w.consumed = func() int64 { return counted.n - int64(br.Buffered()) }
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
		defer zr.Close()
		in = zr
	}
	r := bufio.NewReaderSize(in, 1<<20)
	im.Progress.file(fi.Size())
	if st.Mode == "" {
		st.Mode = modeLines
		if !linesInput(r) {
			st.Mode = modeDocument
		}
	}
	if st.Mode == modeDocument {
		err = w.document(ctx, r)
	} else {
		err = w.lines(ctx, r)
	}
	if err != nil {
		return err
	}
	if err := w.flush(ctx); err != nil {
		return err
	}
	st.Done = true
	return w.save()
}

// linesInput reports whether the input is JSON lines: its first non-empty
// line is a whole JSON value. A pretty-printed document is not. A first
// line longer than r's buffer is taken for a line (a big SDK request body
// on one line); one document on one line decodes as one line too.
func linesInput(r *bufio.Reader) bool {
	for n := 4096; n <= r.Size(); n *= 4 {
		peek, err := r.Peek(min(n, r.Size()))
		trimmed := bytes.TrimLeft(peek, " \t\r\n")
		if i := bytes.IndexByte(trimmed, '\n'); i >= 0 {
			return json.Valid(bytes.TrimSpace(trimmed[:i]))
		}
		if err != nil { // the whole input is one line
			return true
		}
	}
	return true
}

// chunker groups events into requests and sends them.
type chunker struct {
	im        *Importer
	path      string
	st        *state
	statePath string
	res       *Result
	// consumed is how far into the file the events sent so far reach.
	consumed func() int64

	meta   []byte // request statsigMetadata, sessionID left out
	events []json.RawMessage
	first  int      // line of the first pending event
	next   position // position after the last pending event
}

func (c *chunker) lines(ctx context.Context, r *bufio.Reader) error {
	var offset int64
	if c.st.Offset > 0 {
		if _, err := io.CopyN(io.Discard, r, c.st.Offset); err != nil {
			return fmt.Errorf("resuming %s at byte %d: %w", c.path, c.st.Offset, err)
		}
		offset = c.st.Offset
	}
	line := 0
	if c.st.Offset > 0 {
		line = c.st.Line - 1
	}
	for {
		raw, err := r.ReadBytes('\n')
		if len(raw) > 0 {
			line++
			start := offset
			offset += int64(len(raw))
			if line >= c.st.Line {
				if trimmed := bytes.TrimSpace(raw); len(trimmed) > 0 {
					skip := 0
					if line == c.st.Line {
						skip = c.st.Event
					}
					if err := c.source(ctx, trimmed, line, start, offset, skip); err != nil {
						return err
					}
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", c.path, err)
		}
	}
}

func (c *chunker) document(ctx context.Context, r *bufio.Reader) error {
	raw, err := io.ReadAll(io.LimitReader(r, c.im.MaxDocumentBytes+1))
	if err != nil {
		return fmt.Errorf("reading %s: %w", c.path, err)
	}
	if int64(len(raw)) > c.im.MaxDocumentBytes {
		return fmt.Errorf("%s is one JSON document larger than %d bytes: split it into JSON lines", c.path, c.im.MaxDocumentBytes)
	}
	batches, err := c.im.Decode(raw, statsig.RequestInfo{ReceivedAt: time.Now()})
	if err != nil {
		return fmt.Errorf("%s: %w", c.path, err)
	}
	for i, b := range batches {
		line := i + 1
		if line < c.st.Line {
			continue
		}
		skip := 0
		if line == c.st.Line {
			skip = c.st.Event
		}
		if err := c.batch(ctx, b, line, 0, 0, skip); err != nil {
			return err
		}
	}
	return nil
}

// source decodes one JSON line and queues its events.
func (c *chunker) source(ctx context.Context, raw []byte, line int, start, end int64, skip int) error {
	batches, err := c.im.Decode(raw, statsig.RequestInfo{ReceivedAt: time.Now()})
	if err != nil {
		return fmt.Errorf("%s, line %d: %w", c.path, line, err)
	}
	for _, b := range batches {
		if err := c.batch(ctx, b, line, start, end, skip); err != nil {
			return err
		}
		skip = 0
	}
	return nil
}

// batch queues the events of one decoded source from index skip on. start
// and end are the byte offsets of the source's line (0 for documents).
func (c *chunker) batch(ctx context.Context, b *statsig.Batch, line int, start, end int64, skip int) error {
	meta, err := requestMetadata(b)
	if err != nil {
		return fmt.Errorf("%s, line %d: %w", c.path, line, err)
	}
	for i := skip; i < len(b.Events); i++ {
		if len(c.events) > 0 && (len(c.events) >= c.im.BatchEvents || !bytes.Equal(meta, c.meta)) {
			if err := c.flush(ctx); err != nil {
				return err
			}
		}
		if len(c.events) == 0 {
			c.meta = meta
			c.first = line
		}
		ev, err := json.Marshal(&b.Events[i])
		if err != nil {
			return fmt.Errorf("%s, line %d: encoding event %d: %w", c.path, line, i, err)
		}
		c.events = append(c.events, ev)
		if i+1 < len(b.Events) {
			c.next = position{Line: line, Event: i + 1, Offset: start}
		} else {
			c.next = position{Line: line + 1, Offset: end}
		}
	}
	return nil
}

// requestMetadata is the statsigMetadata every request built from b
// carries: the original request's, with the SDK type, version and the
// js-client's request-level stableID, and without its sessionID (each
// request gets its own).
func requestMetadata(b *statsig.Batch) ([]byte, error) {
	m := map[string]json.RawMessage{}
	if len(b.StatsigMetadata) > 0 && b.StatsigMetadata[0] == '{' {
		if err := json.Unmarshal(b.StatsigMetadata, &m); err != nil {
			return nil, fmt.Errorf("statsigMetadata: %w", err)
		}
	}
	set := func(k, v string) {
		if v != "" {
			m[k], _ = json.Marshal(v)
		}
	}
	set("sdkType", b.SDKType)
	set("sdkVersion", b.SDKVersion)
	set("stableID", b.StableID)
	delete(m, "sessionID")
	return json.Marshal(m) // map keys sorted: equal metadata, equal bytes
}

// session names the n-th request of a file. It is part of every event's
// identity at the intake, so the same file imported again (same name,
// size, --batch and API key) gives the same messageIds, and identical
// events in different requests stay different events.
func (c *chunker) session() string {
	return "import:" + c.st.FileID + ":" + strconv.Itoa(c.st.Chunk)
}

// flush sends the pending events as one request and records the position.
func (c *chunker) flush(ctx context.Context) error {
	if len(c.events) == 0 {
		return nil
	}
	body, err := c.body()
	if err != nil {
		return err
	}
	if c.im.limiter != nil {
		if err := c.im.limiter.Wait(ctx); err != nil {
			return err
		}
	}
	rejected, duplicate, err := c.im.send(ctx, body, c.path, c.first, max(c.next.Line-1, c.first), c.im.Progress)
	if err != nil {
		return err
	}
	n := int64(len(c.events))
	var dups int64
	if duplicate {
		dups = n - int64(rejected)
		c.res.Duplicates += dups
	}
	c.res.Events += n - int64(rejected)
	c.res.Requests++
	c.res.Rejected += int64(rejected)
	c.st.Chunk++
	c.st.Events += n - int64(rejected)
	c.st.position = c.next
	c.events = c.events[:0]
	c.im.Progress.at(c.consumed())
	c.im.Progress.add(n-int64(rejected), int64(rejected), dups)
	return c.save()
}

func (c *chunker) body() ([]byte, error) {
	var meta map[string]json.RawMessage
	if err := json.Unmarshal(c.meta, &meta); err != nil {
		return nil, err
	}
	meta["sessionID"], _ = json.Marshal(c.session())
	var raw bytes.Buffer
	raw.WriteString(`{"events":[`)
	for i, e := range c.events {
		if i > 0 {
			raw.WriteByte(',')
		}
		raw.Write(e)
	}
	raw.WriteString(`],"statsigMetadata":`)
	m, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	raw.Write(m)
	raw.WriteByte('}')
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(raw.Bytes())
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return z.Bytes(), nil
}

// save writes the position file (when resuming is on) atomically.
func (c *chunker) save() error {
	if !c.im.Resume {
		return nil
	}
	raw, err := json.MarshalIndent(c.st, "", "  ")
	if err != nil {
		return err
	}
	tmp := c.statePath + ".tmp"
	if err := os.WriteFile(tmp, append(raw, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing the position file: %w", err)
	}
	if err := os.Rename(tmp, c.statePath); err != nil {
		return fmt.Errorf("writing the position file: %w", err)
	}
	return nil
}

// intakeAnswer is the intake's JSON answer.
type intakeAnswer struct {
	Accepted   int    `json:"accepted"`
	Duplicate  bool   `json:"duplicate"`
	Rejected   int    `json:"rejected"`
	Error      string `json:"error"`
	Rejections []struct {
		Index  int    `json:"index"`
		Reason string `json:"reason"`
		Detail string `json:"detail"`
	} `json:"rejections"`
}

// send posts one request until the bridge stores it. 429 and 5xx answers
// are retried after Retry-After (or a growing backoff); other 4xx stop.
func (im *Importer) send(ctx context.Context, body []byte, path string, first, last int, p *Progress) (rejected int, duplicate bool, err error) {
	wait := im.Backoff
	netFailures := 0
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(im.URL, "/")+"/v1/log_event", bytes.NewReader(body))
		if err != nil {
			return 0, false, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Content-Encoding", "gzip")
		req.Header.Set("User-Agent", "statsig-bridge-import")
		req.Header.Set("Statsig-Bridge-Import", "1") // server.ImportHeader: history, not live traffic
		if im.APIKey != "" {
			req.Header.Set("STATSIG-API-KEY", im.APIKey)
		}
		// No STATSIG-CLIENT-TIME: with it the intake would correct the
		// historical times for clock skew, moving them to today.
		resp, err := im.HTTP.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return 0, false, ctx.Err()
			}
			if netFailures++; netFailures >= maxNetworkAttempts {
				return 0, false, fmt.Errorf("sending %s, lines %d-%d to %s: %w", path, first, last, im.URL, err)
			}
			p.note(fmt.Sprintf("sending failed (%v); retrying in %s", err, wait))
		} else {
			raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			var ans intakeAnswer
			_ = json.Unmarshal(raw, &ans)
			switch {
			case resp.StatusCode/100 == 2:
				for _, r := range ans.Rejections {
					p.note(fmt.Sprintf("%s, lines %d-%d: event %d of the request rejected: %s %s", path, first, last, r.Index, r.Reason, r.Detail))
				}
				return ans.Rejected, ans.Duplicate, nil
			case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
				d := retryAfter(resp.Header, time.Now(), wait)
				p.note(fmt.Sprintf("the bridge answered %d (%s); retrying in %s", resp.StatusCode, firstNonEmpty(ans.Error, http.StatusText(resp.StatusCode)), d))
				if err := sleep(ctx, d); err != nil {
					return 0, false, err
				}
				wait = min(wait*2, 30*time.Second)
				continue
			default:
				msg := ans.Error
				if msg == "" {
					msg = strings.TrimSpace(string(raw))
				}
				return 0, false, &RequestError{File: path, FirstLine: first, Line: last, Code: resp.StatusCode, Message: msg}
			}
		}
		if err := sleep(ctx, wait); err != nil {
			return 0, false, err
		}
		wait = min(wait*2, 30*time.Second)
	}
}

// maxRetryAfter bounds the wait one answer may ask for. The bridge asks
// for seconds; a larger number must neither overflow into a negative wait
// (an immediate resend, again and again) nor stall the import for years.
const maxRetryAfter = time.Hour

// retryAfter is the wait a 429 or 5xx answer asks for, read as every
// sender of the bridge reads it (httpsend.RetryAfter: seconds or an HTTP
// date, or X-RateLimit-Reset), at most maxRetryAfter; fallback when it
// asks for none, so that a "0" does not resend in a loop.
func retryAfter(h http.Header, now time.Time, fallback time.Duration) time.Duration {
	if d := httpsend.RetryAfter(h, now); d > 0 {
		return min(d, maxRetryAfter)
	}
	return fallback
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// countingReader counts the bytes read from a file.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}
