// Package specsapi fetches a Statsig project's config specs over HTTP, the
// way the Go server SDK does, and keeps them fresh (Watcher). The specs'
// format is package statsig's; sending the request and reading the answer
// are httpsend's.
package specsapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/httpsend"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// Answers is what the specs API's statuses mean to the Watcher, which
// keeps the last good specs through any failure:
//   - 2xx: the specs (or "nothing changed since sinceTime").
//   - 401/403: the server secret is refused (ErrUnauthorized), and 404:
//     the base URL is wrong. Neither fixes itself within seconds, so they
//     pause: the Watcher asks again only every interval, never every 5 s.
//   - 408, 429 and 5xx: transient; asked again soon, but no sooner than
//     Retry-After when Statsig names one.
//   - other 4xx: this request is refused as it is; as a pause (a GET has
//     nothing to bisect), asked again every interval.
var Answers = httpsend.Table{
	"2xx": httpsend.Accept,
	"401": httpsend.Pause,
	"403": httpsend.Pause,
	"404": httpsend.Pause,
	"408": httpsend.BackOff,
	"429": httpsend.BackOff,
	"5xx": httpsend.BackOff,
	"4xx": httpsend.Refuse,
}

// MaxSpecsBytes bounds the specs answer: a large project's specs are a
// few MB, and the whole answer is held in memory to be parsed.
const MaxSpecsBytes = 256 << 20

// DefaultTimeout bounds one fetch: a large project's specs take a while.
const DefaultTimeout = 30 * time.Second

// ErrUnauthorized means Statsig refused the server secret.
var ErrUnauthorized = errors.New("statsig refused the server secret (401/403)")

// Config configures a Client.
type Config struct {
	// Base is the specs API base (STATSIG_SPECS_API).
	Base string
	// Secret is the project's server secret.
	Secret string
	// Timeout bounds one fetch (default DefaultTimeout).
	Timeout time.Duration
	// Transport overrides the HTTP transport (tests).
	Transport http.RoundTripper
}

// Client fetches a project's config specs the way the Go SDK does:
// GET {base}/download_config_specs/{server secret}.json?sinceTime=….
// The secret is part of the URL, so errors never include the URL.
type Client struct {
	base, secret string
	send         *httpsend.Sender
}

// NewClient returns a Client. It does not connect.
func NewClient(cfg Config) *Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	return &Client{base: cfg.Base, secret: cfg.Secret, send: httpsend.New(httpsend.Config{
		Name:      "statsig config specs",
		URL:       cfg.Base,
		Secrets:   []string{cfg.Secret},
		Answers:   Answers,
		Timeout:   cfg.Timeout,
		Transport: cfg.Transport,
	})}
}

// Fetch returns the specs, or nil and no error when nothing changed since
// sinceTime. A refused secret is ErrUnauthorized; any other answer but
// success is an *httpsend.StatusError.
func (c *Client) Fetch(ctx context.Context, sinceTime int64) (*statsig.Specs, error) {
	u := strings.TrimRight(c.base, "/") + "/download_config_specs/" + url.PathEscape(c.secret) + ".json"
	if sinceTime > 0 {
		u += "?sinceTime=" + strconv.FormatInt(sinceTime, 10)
	}
	h := http.Header{}
	h.Set("STATSIG-API-KEY", c.secret)
	h.Set("Accept", "application/json")
	ans, err := c.send.Send(ctx, httpsend.Request{Method: http.MethodGet, URL: u, Header: h, Keep: MaxSpecsBytes})
	var se *httpsend.StatusError
	if errors.As(err, &se) && (se.Code == http.StatusUnauthorized || se.Code == http.StatusForbidden) {
		return nil, fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	if err != nil {
		return nil, fmt.Errorf("fetching config specs: %w", err)
	}
	return statsig.ParseSpecs(ans.Body)
}
