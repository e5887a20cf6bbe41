// Package statsig owns Statsig's wire formats as the bridge receives them:
// the SDK event-logging bodies (/v1/log_event, /v1/rgstr), the Generic
// Webhook batches and their signature, the project's config specs, and the
// normalised Event and Batch that the durable log stores (batchbin.go: the
// binary encoding it stores them in; batchjson.go: JSON, as shown).
//
// It imports nothing of the bridge's own packages and only the standard
// library: it must stay a faithful model of what Statsig sends, usable by
// intake, backfill and tests alike.
package statsig
