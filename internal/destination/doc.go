// Package destination runs delivery for every destination the same way:
// read the durable log through the destination's own consumer, map each
// event, batch to the destination's limits, deliver with retries, backoff,
// Retry-After, bisection of rejected batches and dead letters, and ack a log
// message only once every event in it is delivered, filtered or
// dead-lettered.
//
// Two mapping options need state shared by every process, which the log's
// engine keeps (queue.Bucket): dedupe_exposures (Dedupe: a fetch's
// exposures are claimed before delivery, repeats filtered) and identify
// on_change (Identities: an identify goes ahead of a user's event when their
// traits are new, and the traits are recorded once delivered). See state.go.
//
// A destination itself (destination/segmentapi, …) only does I/O: it
// implements Writer and reports what happened as the typed errors below.
package destination
