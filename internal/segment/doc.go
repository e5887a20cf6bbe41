// Package segment owns Segment's side of the wire: the Track message, its
// size and validity rules, the /v1/batch envelope and the Tracking API's
// endpoints.
//
// It imports only the standard library. Sending is the Segment
// destination's (destination/segmentapi): this package says what a request
// holds, not how it travels or what an answer means.
package segment
