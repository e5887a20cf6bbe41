// Package mapping turns normalised Statsig events into Segment Track
// messages for one destination: event filtering, experiment resolution from
// the config specs, identifier mapping and the message itself.
//
// It is pure: no I/O, no clocks (event times come from the batch), so the
// same event always maps to the same bytes — which is what makes replays and
// retries safe to deduplicate downstream.
package mapping
