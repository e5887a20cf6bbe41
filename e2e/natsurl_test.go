package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

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

// dropLogStreams deletes, when the test ends, the streams of a log named
// stream and dlStream on the external server: the events, the dead letters
// and the delivery statistics (stream_STATS). Register it before the bridges
// start, so that it runs after they stopped.
func dropLogStreams(t testing.TB, url, stream, dlStream string) {
	t.Helper()
	js := externalJetStream(t, url)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, name := range []string{stream, dlStream, stream + "_STATS"} {
			if err := js.DeleteStream(ctx, name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
				t.Errorf("deleting test stream %s: %v", name, err)
			}
		}
	})
}

// startSharedProcesses starts n serve processes on the external NATS server
// url with one config file (multiConfig: streams named by the test, one
// Segment destination delivering to s), so they share the streams and the
// destination's durable consumer; the streams go when the test ends. It
// returns the processes and the events stream's name.
func startSharedProcesses(t *testing.T, url string, n int, s *sink) ([]*process, string) {
	t.Helper()
	id := fmt.Sprintf("%d_%d", os.Getpid(), time.Now().UnixNano())
	path := multiConfig(t, url, id, s)
	dropLogStreams(t, url, "E2E_MULTI_"+id, "E2E_MULTI_DL_"+id)
	var procs []*process
	for range n {
		procs = append(procs, startProcessArgs(t, map[string]string{
			"BRIDGE_LISTEN":   freeAddr(t),
			"BRIDGE_DATA_DIR": t.TempDir(),
		}, "--config", path))
	}
	return procs, "E2E_MULTI_" + id
}
