package destination_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// A batch stored as JSON by a bridge older than the binary encoding is
// delivered byte for byte as the same batch stored in the binary encoding:
// an upgrade changes nothing a destination receives, messageIds included.
func TestBatchStoredAsJSONDeliversAsBinaryDoes(t *testing.T) {
	t.Parallel()
	body, err := os.ReadFile(filepath.Join("..", "..", "testdata", "fixtures", "go-sdk", "log_event-1.json"))
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := statsig.DecodeRequest(body, statsig.RequestInfo{ReceivedAt: time.UnixMilli(1795541030000), ClientTime: 1795541029000, SDKKey: "k", SessionID: "s"})
	if err != nil {
		t.Fatal(err)
	}
	asJSON, err := b.AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	asBinary, err := b.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	delivered := map[string]map[string][]byte{}
	for name, stored := range map[string][]byte{"json": asJSON, "binary": asBinary} {
		l := openLog(t)
		recv := newReceiver(t)
		publishStored(t, l, b.ID, stored)
		startRunner(t, l, recv, runnerOptions{})
		testwait.For(t, 20*time.Second, name+" batch delivered", func() bool { return recv.Unique() > 0 })
		waitForLagZero(t, l, defaultAckWait)
		items := map[string][]byte{}
		for _, rr := range recv.Requests() {
			for i, id := range rr.IDs {
				items[id] = rr.Items[i]
			}
		}
		delivered[name] = items
	}
	if len(delivered["json"]) == 0 || len(delivered["json"]) != len(delivered["binary"]) {
		t.Fatalf("delivered %d messages from JSON, %d from binary", len(delivered["json"]), len(delivered["binary"]))
	}
	for id, msg := range delivered["json"] {
		if !bytes.Equal(msg, delivered["binary"][id]) {
			t.Fatalf("message %s:\nfrom JSON   %s\nfrom binary %s", id, msg, delivered["binary"][id])
		}
	}
}

// A binary batch that does not read back (cut short here) is dead-lettered
// as an undecodable log message with its bytes as published: there is no
// JSON to show for it, and the batches after it are delivered.
func TestCorruptBinaryBatchIsDeadLettered(t *testing.T) {
	t.Parallel()
	l := openLog(t)
	recv := newReceiver(t)
	b := &statsig.Batch{ID: "cut", Source: statsig.SourceSDK, ReceivedAt: 1, Events: events("cut", 3, 0)}
	whole, err := b.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	cut := whole[:len(whole)-5]
	publishStored(t, l, "cut", cut)
	publish(t, l, "after", events("after", 2, 0))
	startRunner(t, l, recv, runnerOptions{})

	testwait.For(t, 20*time.Second, "the batch after delivered", func() bool { return recv.Unique() == 2 })
	testwait.For(t, 20*time.Second, "the cut batch dead-lettered", func() bool { return len(deadLetters(t, l)) == 1 })
	dl := deadLetters(t, l)[0]
	if dl.Reason != "undecodable_log_message" || !bytes.Equal(dl.Raw, cut) || !bytes.Contains([]byte(dl.Detail), []byte("corrupt binary batch")) {
		t.Fatalf("dead letter: reason %q, detail %q, raw %q", dl.Reason, dl.Detail, dl.Raw)
	}
}
