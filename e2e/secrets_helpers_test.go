package e2e

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// secretForms returns the ways a secret could show up in text: as is,
// URL-escaped, in base64 (alone, and as the user of HTTP Basic auth with an
// empty password, which is how Segment's write key travels), and for an
// "Authorization: Bearer X" style value, X alone.
func secretForms(s string) []string {
	forms := []string{s, url.QueryEscape(s), url.PathEscape(s)}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		forms = append(forms, enc.EncodeToString([]byte(s)), enc.EncodeToString([]byte(s+":")))
	}
	if _, token, ok := strings.Cut(s, " "); ok && len(token) >= 8 {
		forms = append(forms, secretForms(token)...)
	}
	if _, pw, ok := strings.Cut(s, ":"); ok && len(pw) >= 8 {
		forms = append(forms, pw) // user:password: the password alone
	}
	sort.Strings(forms)
	out := forms[:0]
	for i, f := range forms {
		if i == 0 || f != forms[i-1] {
			out = append(out, f)
		}
	}
	return out
}

// leakChecker collects everything the bridge showed anyone and reports
// every place a secret appears in.
type leakChecker struct {
	secrets map[string]string // form → name of the secret
	mu      sync.Mutex
	seen    []seenText
}

type seenText struct{ where, text string }

func newLeakChecker(secrets map[string]string) *leakChecker {
	c := &leakChecker{secrets: map[string]string{}}
	for name, s := range secrets {
		if len(s) < 12 {
			panic("test secret " + name + " is too short to be distinctive")
		}
		for _, f := range secretForms(s) {
			c.secrets[f] = name
		}
	}
	return c
}

// Add records text the bridge showed at where.
func (c *leakChecker) Add(where, text string) {
	c.mu.Lock()
	c.seen = append(c.seen, seenText{where, text})
	c.mu.Unlock()
}

// Check fails the test for every secret found: once per secret and kind
// of place (the text before " ("), quoting the first occurrence, with the
// number of texts it was found in.
func (c *leakChecker) Check(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	type group struct {
		first string
		n     int
	}
	groups := map[string]*group{}
	var order []string
	for _, s := range c.seen {
		kind, _, _ := strings.Cut(s.where, " (")
		for form, name := range c.secrets {
			i := strings.Index(s.text, form)
			if i < 0 {
				continue
			}
			key := name + " in " + kind
			g := groups[key]
			if g == nil {
				start, end := max(0, i-120), min(len(s.text), i+len(form)+60)
				g = &group{first: fmt.Sprintf("as %q in %s: …%s…", form, s.where, s.text[start:end])}
				groups[key] = g
				order = append(order, key)
			}
			g.n++
		}
	}
	sort.Strings(order)
	for _, k := range order {
		t.Errorf("LEAK: %s (%d times), first %s", k, groups[k].n, groups[k].first)
	}
}

// Texts returns how many texts were collected and their total size.
func (c *leakChecker) Texts() (n, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.seen {
		bytes += len(s.text)
	}
	return len(c.seen), bytes
}

// echoServer is a hostile target: every answer that is not 2xx carries in
// its body what the request sent, its URL and every header, credentials
// first, the way some proxies and debugging endpoints answer. Paths pick
// the behaviour: in phase 1 the first two requests to a path prefix fail
// with 500 and the rest with 400 (the bridge retries, then dead-letters
// each event with the answer as its reason); in phase 2 every request is
// refused with 401 (the destination pauses).
type echoServer struct {
	*httptest.Server
	phase atomic.Int32

	mu      sync.Mutex
	counts  map[string]int
	echoed  strings.Builder // every body answered, to prove the secrets were there to leak
	answers int
}

func newEchoServer(t *testing.T) *echoServer {
	e := &echoServer{counts: map[string]int{}}
	e.phase.Store(1)
	e.Server = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.Close)
	return e
}

func (e *echoServer) serve(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	prefix := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)[0]
	e.mu.Lock()
	n := e.counts[prefix]
	e.counts[prefix]++
	e.mu.Unlock()
	code := http.StatusBadRequest
	switch {
	case e.phase.Load() == 2:
		code = http.StatusUnauthorized
	case n < 2 || prefix == "specs":
		code = http.StatusInternalServerError
	}
	var b strings.Builder
	fmt.Fprintf(&b, `{"error":"refused","you_sent":{"url":%q`, r.URL.String())
	if u := r.URL.User; u != nil {
		fmt.Fprintf(&b, `,"user":%q`, u.String())
	}
	first := []string{"Authorization", "Statsig-Api-Key", "X-Api-Key", "X-Statsig-Signature"}
	for _, k := range first {
		if v := r.Header.Get(k); v != "" {
			fmt.Fprintf(&b, `,%q:%q`, k, v)
		}
	}
	var rest []string
	for k := range r.Header {
		rest = append(rest, k)
	}
	sort.Strings(rest)
	for _, k := range rest {
		if !containsFoldAny(first, k) {
			fmt.Fprintf(&b, `,%q:%q`, k, r.Header.Get(k))
		}
	}
	b.WriteString("}}")
	e.mu.Lock()
	e.echoed.WriteString(b.String() + "\n")
	e.answers++
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(b.String()))
}

// Echoed returns every body the server answered.
func (e *echoServer) Echoed() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.echoed.String()
}

func containsFoldAny(list []string, s string) bool {
	for _, l := range list {
		if strings.EqualFold(l, s) {
			return true
		}
	}
	return false
}

// metricByLabel sums the samples of metric name whose labels contain
// label (e.g. `destination="hook"`), from a /metrics text.
func metricByLabel(text, name, label string) float64 {
	sum := 0.0
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") || !strings.Contains(line, label) {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			sum += v
		}
	}
	return sum
}
