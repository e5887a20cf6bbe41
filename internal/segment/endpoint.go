package segment

import "strings"

// Regional endpoints of the Tracking API.
const (
	EndpointUS = "https://api.segment.io"
	EndpointEU = "https://events.eu1.segmentapis.com"
)

// URL returns the batch URL for an endpoint base. A query string (a proxy's
// token) stays a query string after the path.
func URL(endpoint string) string {
	e, query, hasQuery := strings.Cut(endpoint, "?")
	e = strings.TrimRight(e, "/")
	e = strings.TrimSuffix(e, "/v1/batch")
	e = strings.TrimSuffix(e, "/v1")
	if hasQuery {
		return e + "/v1/batch?" + query
	}
	return e + "/v1/batch"
}
