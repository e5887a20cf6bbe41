// Package httpsend owns the bridge's outgoing HTTP exchanges with a target:
// it sends one request, reads the start of the answer, drains the rest so
// the connection is reused, and turns every answer other than an accepted
// one into a *StatusError whose Outcome comes from the target's Table
// (accept, retry, back off after Retry-After, pause, refuse). Errors name
// only the target's scheme and host, and an answer's text loses every
// credential the target was given (Redactor), because errors go on to
// logs, metrics, the debugger and dead letters.
//
// It makes one attempt and decides nothing about retries: the destination
// Runner, the config-specs watcher and the importer own those. It imports
// nothing of the bridge's own packages, so that the wire-format packages'
// neighbours (destinations, specs, backfill) can all use it.
package httpsend
