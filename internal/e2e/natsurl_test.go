package e2e

import (
	"os"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/statsig-bridge/statsig-bridge/internal/queue"
)

// externalNATSURL is BRIDGE_TEST_NATS_URL for a test that needs an external
// JetStream: the test is skipped, saying why, when it is unset or names a
// server the bridge refuses (older than queue.MinServerVersion). .ci/run
// starts a supported nats-server and points the variable at it.
func externalNATSURL(t testing.TB) string {
	t.Helper()
	url, why := supportedNATSURL(t)
	if url == "" {
		t.Skip(why)
	}
	return url
}

// supportedNATSURL is externalNATSURL for a test that runs either way:
// the URL, or "" and the reason it is not used.
func supportedNATSURL(t testing.TB) (url, why string) {
	t.Helper()
	url = os.Getenv("BRIDGE_TEST_NATS_URL")
	if url == "" {
		return "", "BRIDGE_TEST_NATS_URL is not set: set it to a JetStream-enabled nats-server " + queue.MinServerVersion + " or later (e.g. nats://127.0.0.1:4222) to run the external-log tests"
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connecting to BRIDGE_TEST_NATS_URL %s: %v", url, err)
	}
	defer nc.Close()
	if err := queue.CheckServerVersion(url, nc.ConnectedServerVersion()); err != nil {
		return "", "BRIDGE_TEST_NATS_URL names a server the bridge refuses, so the external-log tests cannot run on it: " + err.Error()
	}
	return url, ""
}
