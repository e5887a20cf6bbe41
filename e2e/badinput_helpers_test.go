package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// rowAnswer is what one bad-input row got back: the status (0: the
// connection closed with no answer), the body, and how long it took.
type rowAnswer struct {
	code        int
	body        string
	contentType string
	took        time.Duration
}

// rawRequest writes head and body on a fresh TCP connection, exactly these
// bytes, and reads the answer; write errors are ignored (a server refusing
// a request may close before it was all sent).
func rawRequest(t *testing.T, addr, head string, body []byte) rowAnswer {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	conn.SetDeadline(start.Add(30 * time.Second))
	go func() {
		_, _ = conn.Write([]byte(head))
		_, _ = conn.Write(body)
	}()
	return readAnswer(conn, start)
}

// readAnswer reads one HTTP answer from conn; code 0 when the connection
// ended without one.
func readAnswer(conn net.Conn, start time.Time) rowAnswer {
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return rowAnswer{body: "no answer: " + err.Error(), took: time.Since(start)}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rowAnswer{code: resp.StatusCode, body: string(b), contentType: resp.Header.Get("Content-Type"), took: time.Since(start)}
}

// dribble opens n connections that each send head in full, then body one
// byte every 100 ms (with dribbleHead, head itself is dribbled that way
// after its first line). It returns the answers once every connection has
// one or was closed; started is closed once all have begun dribbling.
func dribble(t *testing.T, addr string, n int, head string, body []byte, dribbleHead bool, started chan<- struct{}) []rowAnswer {
	t.Helper()
	out := make([]rowAnswer, n)
	var wg, begun sync.WaitGroup
	for i := range n {
		wg.Add(1)
		begun.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				begun.Done()
				return
			}
			defer conn.Close()
			start := time.Now()
			conn.SetDeadline(start.Add(30 * time.Second))
			slow := body
			if dribbleHead {
				line, rest, _ := strings.Cut(head, "\r\n")
				conn.Write([]byte(line + "\r\n"))
				slow = []byte(rest)
			} else {
				conn.Write([]byte(head))
			}
			stop := make(chan struct{})
			go func() { // the slow sender: until the server answers or hangs up
				for _, c := range slow {
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Millisecond):
					}
					if _, err := conn.Write([]byte{c}); err != nil {
						return
					}
				}
			}()
			begun.Done()
			out[i] = readAnswer(conn, start)
			close(stop)
		}()
	}
	begun.Wait()
	close(started)
	wg.Wait()
	return out
}

// sameAnswer reduces the answers of several connections to one: the
// first, unless one differs in code, which is then returned to fail the
// row.
func sameAnswer(as []rowAnswer) rowAnswer {
	for _, a := range as[1:] {
		if a.code != as[0].code {
			return a
		}
	}
	return as[0]
}

// headFor is an HTTP/1.1 request head for a POST to path on addr with
// headers (in this order) and a Content-Length of n (-1: none).
func headFor(addr, path string, n int, headers ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\n", path, addr)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	if n >= 0 {
		b.WriteString("Content-Length: " + strconv.Itoa(n) + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// markedEvents is an SDK body of n custom events named name, each with
// metadata seq = marker-i (marker alone when n is 1) and extra metadata.
func markedEvents(name, marker string, n int, extra string) []byte {
	var b bytes.Buffer
	b.WriteString(`{"events":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		seq := marker
		if n > 1 {
			seq = fmt.Sprintf("%s-%d", marker, i)
		}
		fmt.Fprintf(&b, `{"eventName":%q,"user":{"userID":"bad-input-user"},"time":%d,"metadata":{"seq":%q%s}}`,
			name, time.Now().UnixMilli(), seq, extra)
	}
	b.WriteString(`],"statsigMetadata":{"sdkType":"bad-input-test"}}`)
	return b.Bytes()
}

func gzipped(t testing.TB, p []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(p)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstded(t testing.TB, p []byte) []byte {
	t.Helper()
	e, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	return e.EncodeAll(p, nil)
}

// gzipOfZeros is a gzip stream inflating to n zero bytes (about n/1000
// bytes compressed): a bomb.
func gzipOfZeros(t testing.TB, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zero := make([]byte, 1<<20)
	for n > 0 {
		k := min(n, len(zero))
		w.Write(zero[:k])
		n -= k
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
