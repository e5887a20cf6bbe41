package httpsend

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var testTable = Table{"2xx": Accept, "404": Pause, "4xx": Refuse, "429": BackOff, "5xx": Retry}

func TestTableExactCodeBeatsItsClass(t *testing.T) {
	for code, want := range map[int]Outcome{200: Accept, 204: Accept, 404: Pause, 400: Refuse, 422: Refuse, 429: BackOff, 503: Retry, 302: Retry, 101: Retry} {
		if got := testTable.Outcome(code); got != want {
			t.Errorf("%d: %s, want %s", code, got, want)
		}
	}
	if err := testTable.Check(); err != nil {
		t.Error(err)
	}
	if err := (Table{"4XX": Refuse}).Check(); err == nil {
		t.Error("a misspelt class passed Check")
	}
	if got := strings.Join(testTable.Keys(), " "); got != "404 429 2xx 4xx 5xx" {
		t.Errorf("Keys = %s", got)
	}
}

// TestSendKeepsTheStartOfTheAnswerAndReusesTheConnection: an error answer
// is cut to SnippetBytes for the error, and the rest is drained so the
// next request reuses the connection.
func TestSendKeepsTheStartOfTheAnswerAndReusesTheConnection(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		_, _ = w.Write([]byte(strings.Repeat("x", 20_000)))
	}))
	defer srv.Close()
	s := New(Config{Name: "test", URL: srv.URL, Answers: testTable})
	var reused []bool
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = append(reused, i.Reused) }})
	for range 2 {
		_, err := s.Send(ctx, Request{URL: srv.URL, Body: []byte("{}")})
		var se *StatusError
		if !errors.As(err, &se) || se.Code != 400 || se.Outcome != Refuse || len(se.Body) != SnippetBytes {
			t.Fatalf("error %T %.80v, want a refused 400 with %d bytes of its answer", err, err, SnippetBytes)
		}
	}
	if len(reused) != 2 || !reused[1] {
		t.Errorf("connections reused: %v, want the second request on the first's connection", reused)
	}
}

// TestErrorsNameOnlySchemeAndHost: the URL's user info, path and query and
// the target's secrets never reach an error, answered or not.
func TestErrorsNameOnlySchemeAndHost(t *testing.T) {
	const secret = "srv-secret-0123456789"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		_, _ = w.Write([]byte("you sent " + r.URL.String() + " with " + r.Header.Get("X-Key")))
	}))
	host := strings.TrimPrefix(srv.URL, "http://")
	u := "http://user1:pass1word@" + host + "/p/" + secret + ".json?token=qtoken12345"
	s := New(Config{Name: "test", URL: u, Secrets: []string{secret}, Answers: testTable})
	h := http.Header{}
	h.Set("X-Key", secret)
	_, answered := s.Send(context.Background(), Request{Method: http.MethodGet, URL: u, Header: h})
	srv.Close()
	_, refused := s.Send(context.Background(), Request{URL: u, Body: []byte("{}")})
	_, invalid := New(Config{Name: "test", URL: "http://a:b@host:notaport/" + secret}).Send(context.Background(), Request{URL: "http://a:b@host:notaport/" + secret})
	for _, err := range []error{answered, refused, invalid} {
		if err == nil {
			t.Fatal("no error")
		}
		for _, leak := range []string{secret, "user1", "pass1word", "qtoken12345"} {
			if strings.Contains(err.Error(), leak) {
				t.Errorf("error %q names %q", err, leak)
			}
		}
	}
	for _, err := range []error{answered, refused} {
		if !strings.Contains(err.Error(), "test (http://"+host+")") {
			t.Errorf("error %q does not name the target's host", err)
		}
	}
}

// TestReleasedOnceTheTransportIsDone: a caller reusing its body buffer is
// told once, also when the request could not be built.
func TestReleasedOnceTheTransportIsDone(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	s := New(Config{Name: "test", URL: srv.URL, Answers: testTable})
	for _, u := range []string{srv.URL, "http://host:notaport/"} {
		var n atomic.Int32
		_, _ = s.Send(context.Background(), Request{URL: u, Body: []byte("{}"), Released: func() { n.Add(1) }})
		for deadline := time.Now().Add(5 * time.Second); n.Load() == 0 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond) // the transport may close the body after Send returns
		}
		if n.Load() != 1 {
			t.Errorf("%s: released %d times, want once", u, n.Load())
		}
	}
}
