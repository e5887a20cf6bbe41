// Package queue owns statsig-bridge's durable log: one NATS JetStream stream
// that holds every accepted Statsig event batch until every destination has
// delivered it, plus a dead-letter stream for events a destination rejected
// for good.
//
// A 2xx to the SDK is only sent after [Log.Publish] returns, and Publish only
// returns after JetStream has stored the batch, so an accepted batch survives
// a SIGKILL of the process. Each destination reads the log through its own
// durable pull consumer ([Log.Consumer]) and acks what it delivered;
// [Log.Trim] drops batches only once every destination has acked them. The
// log never discards unfinished events on its own: when it is full,
// Publish fails with [ErrFull] and intake answers 503.
//
// The package talks to JetStream only. It knows nothing of the Statsig or
// Segment wire formats: batches and dead letters are opaque bytes built by
// the caller. Batches are stored S2-compressed when that makes them smaller
// and handed back as published ([Message.Data]); see compress.go for why. By default it runs nats-server in-process ([Config.URL] empty)
// without opening any network port; with a URL it uses an external NATS
// cluster instead.
//
// [Log.StateBucket] gives a destination key-value state in the same engine
// (dedupe and identify state), shared like the log by every process on it.
package queue
