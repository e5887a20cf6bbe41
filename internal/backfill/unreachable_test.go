package backfill

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// TestImportGivesUpOnAnUnreachableBridge (issue 15.5): a wrong --url
// (nothing listens there) is retried a bounded number of times, then the
// import stops with an error naming the URL and the failure, instead of
// retrying "connection refused" forever.
func TestImportGivesUpOnAnUnreachableBridge(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close() // nothing listens there now
	path := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(path, []byte(`{"events":[{"eventName":"e","user":{"userID":"u"},"time":1700000000000}]}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	decode := func(raw []byte, info statsig.RequestInfo) ([]*statsig.Batch, error) {
		b, _, err := statsig.DecodeRequest(raw, info)
		return []*statsig.Batch{b}, err
	}
	im := &Importer{URL: url, Backoff: time.Millisecond, Decode: decode}
	_, err = im.Run(ctx, []string{path})
	if err == nil || ctx.Err() != nil {
		t.Fatalf("import to %s: %v (context %v), want it to give up by itself", url, err, ctx.Err())
	}
	for _, want := range []string{url, "connection refused", "events.jsonl"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}
