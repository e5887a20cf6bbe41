package httpsend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Read limits of an answer.
const (
	// SnippetBytes is how much of an answer is kept: enough for a JSON
	// error message, little enough for a log line and a dead letter.
	SnippetBytes = 1024
	// drainBytes is how much more is read and thrown away so the
	// connection goes back to the pool; a longer answer closes it instead.
	drainBytes = 64 << 10
)

// DefaultTimeout bounds one request when Config.Timeout is not set (10 s,
// as analytics-go and the Statsig SDKs).
const DefaultTimeout = 10 * time.Second

// Config configures a Sender for one target.
type Config struct {
	// Name names the target in errors: "segment", "webhook", "statsig".
	Name string
	// URL is the configured address; errors name only its scheme and host.
	URL string
	// Secrets are hidden in answers, with the URL's own credentials
	// (URLSecrets): an error answer may echo the request.
	Secrets []string
	// Answers maps the target's statuses to outcomes.
	Answers Table
	// HTTP is the client; when nil one is made from Timeout and Transport.
	HTTP *http.Client
	// Timeout bounds one request (default DefaultTimeout).
	Timeout time.Duration
	// Transport overrides the HTTP transport (tests); the default keeps 64
	// idle connections to the target, one per worker in flight.
	Transport http.RoundTripper
	// Now is the clock for Retry-After dates (tests); time.Now when nil.
	Now func() time.Time
}

// Sender sends requests to one target. It is safe for concurrent use.
type Sender struct {
	url     string // the configured address, for Reach; never in errors
	name    string
	target  string // name and scheme://host, for errors
	answers Table
	http    *http.Client
	redact  *Redactor
	now     func() time.Time
}

// New returns a Sender. It does not connect.
func New(cfg Config) *Sender {
	hc := cfg.HTTP
	if hc == nil {
		if cfg.Timeout <= 0 {
			cfg.Timeout = DefaultTimeout
		}
		tr := cfg.Transport
		if tr == nil {
			t := http.DefaultTransport.(*http.Transport).Clone()
			t.MaxIdleConnsPerHost = 64
			tr = t
		}
		hc = &http.Client{Timeout: cfg.Timeout, Transport: tr}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Sender{
		url:     cfg.URL,
		name:    cfg.Name,
		target:  cfg.Name + " (" + RedactURL(cfg.URL, "an invalid URL") + ")",
		answers: cfg.Answers,
		http:    hc,
		redact:  NewRedactor(append(URLSecrets(cfg.URL), cfg.Secrets...)...),
		now:     cfg.Now,
	}
}

// Request is one request to the target.
type Request struct {
	// Method is http.MethodPost when empty.
	Method string
	// URL is the full address (the configured one with the target's path
	// joined); it never appears in errors.
	URL    string
	Header http.Header
	Body   []byte
	// Released, when set, is called once the transport no longer reads
	// Body, which may be after Send returns: only then may its buffer be
	// reused.
	Released func()
	// Keep is how much of an accepted answer to return. Zero returns its
	// first SnippetBytes, best effort: an answer cut short is still an
	// acceptance. More than zero returns up to Keep bytes, and a failed
	// read is an error (the caller needs the body).
	Keep int64
}

// Answer is an accepted answer.
type Answer struct {
	Code int
	// Body is its start (see Request.Keep).
	Body []byte
}

// Send makes one attempt. It returns an accepted answer, or a
// *StatusError for an answer the Table does not Accept, or a transport
// error (transient) naming only the target's scheme and host.
func (s *Sender) Send(ctx context.Context, r Request) (Answer, error) {
	method := r.Method
	if method == "" {
		method = http.MethodPost
	}
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
		if r.Released != nil {
			body = &releasingBody{Reader: bytes.NewReader(r.Body), released: r.Released}
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, r.URL, body)
	if err != nil {
		if r.Released != nil {
			r.Released()
		}
		// url.Parse errors quote the URL, credentials included. Retried, not
		// refused: the events wait in the log until the URL is fixed.
		return Answer{}, fmt.Errorf("building the request to %s: invalid URL", s.target)
	}
	if r.Body != nil {
		req.ContentLength = int64(len(r.Body))
	}
	for k, vs := range r.Header {
		req.Header[k] = append([]string(nil), vs...) // callers share one Header between requests
	}
	resp, err := s.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text repeats the URL
		}
		return Answer{}, fmt.Errorf("%s %s: %w", verb(method), s.target, err)
	}
	defer resp.Body.Close()
	keep := int64(SnippetBytes)
	if r.Keep > 0 {
		keep = r.Keep
	}
	answer, readErr := io.ReadAll(io.LimitReader(resp.Body, keep))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainBytes)) // let the connection be reused
	outcome := s.answers.Outcome(resp.StatusCode)
	if outcome == Accept {
		if readErr != nil && r.Keep > 0 {
			return Answer{}, fmt.Errorf("reading the answer of %s: %w", s.target, readErr)
		}
		return Answer{Code: resp.StatusCode, Body: answer}, nil
	}
	snippet := answer[:min(len(answer), SnippetBytes)]
	se := &StatusError{Target: s.target, Code: resp.StatusCode, Outcome: outcome, Body: s.Redact(strings.TrimSpace(string(snippet)))}
	if outcome == BackOff {
		se.Wait = RetryAfter(resp.Header, s.now())
	}
	return Answer{}, se
}

// Redact hides the target's credentials in text that came from it.
func (s *Sender) Redact(text string) string { return s.redact.Redact(text) }

// Target names the target for errors: its name, scheme and host.
func (s *Sender) Target() string { return s.target }

func verb(method string) string {
	switch method {
	case http.MethodPost:
		return "posting to"
	case http.MethodGet:
		return "getting from"
	}
	return method + " to"
}

// releasingBody is a request body that says when the transport is done
// with it.
type releasingBody struct {
	*bytes.Reader
	once     sync.Once
	released func()
}

func (b *releasingBody) Close() error {
	b.once.Do(b.released)
	return nil
}
