// Package server is the bridge's HTTP face: the Statsig SDK intake
// (/v1/log_event, /v1/rgstr), the Generic Webhook, health, readiness and
// metrics. An intake answers 2xx only after the durable log has stored the
// request's batch.
package server
