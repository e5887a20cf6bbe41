package statsig

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// SpecsClient fetches a project's config specs the way the Go SDK does:
// GET {base}/download_config_specs/{server secret}.json?sinceTime=….
// The secret is part of the URL, so errors never include the URL.
type SpecsClient struct {
	Base   string
	Secret string
	HTTP   *http.Client
}

// ErrSpecsUnauthorized means Statsig refused the server secret.
var ErrSpecsUnauthorized = errors.New("statsig refused the server secret (401/403)")

// Fetch returns the specs, or nil and no error when nothing changed since
// sinceTime.
func (c *SpecsClient) Fetch(ctx context.Context, sinceTime int64) (*Specs, error) {
	u := strings.TrimRight(c.Base, "/") + "/download_config_specs/" + url.PathEscape(c.Secret) + ".json"
	if sinceTime > 0 {
		u += "?sinceTime=" + strconv.FormatInt(sinceTime, 10)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, errors.New("fetching config specs: invalid STATSIG_SPECS_API base URL")
	}
	req.Header.Set("STATSIG-API-KEY", c.Secret)
	req.Header.Set("Accept", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // drop the URL: it holds the secret
		}
		return nil, fmt.Errorf("fetching config specs from %s: %w", redactedHost(c.Base), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("reading config specs: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, ErrSpecsUnauthorized
	case resp.StatusCode/100 != 2:
		return nil, fmt.Errorf("fetching config specs from %s: HTTP %d", redactedHost(c.Base), resp.StatusCode)
	}
	return ParseSpecs(body)
}

func redactedHost(base string) string {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return "the specs API"
	}
	return u.Scheme + "://" + u.Host
}
