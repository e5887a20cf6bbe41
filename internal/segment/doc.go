// Package segment owns Segment's side of the wire: the Track message, its
// size and validity rules, the /v1/batch envelope, and an HTTP client for the
// Tracking API (any region or Segment-compatible endpoint).
//
// It imports only the standard library. Retry policy lives with the caller:
// the client reports what happened (status, Retry-After) as typed errors.
package segment
