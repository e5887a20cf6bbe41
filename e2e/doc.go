// Package e2e holds end-to-end tests: a whole bridge (embedded JetStream,
// HTTP intake, destinations) started in the test process or as a
// subprocess, real Statsig clients and fixtures in, a Segment-compatible
// receiver out.
package e2e
