package segment_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/segment"
)

func TestURLJoinsBatchPathOnce(t *testing.T) {
	for base, want := range map[string]string{
		"https://api.segment.io":                  "https://api.segment.io/v1/batch",
		"https://api.segment.io/":                 "https://api.segment.io/v1/batch",
		"https://api.segment.io/v1":               "https://api.segment.io/v1/batch",
		"https://api.segment.io/v1/":              "https://api.segment.io/v1/batch",
		"https://api.segment.io/v1/batch":         "https://api.segment.io/v1/batch",
		"https://api.segment.io/v1/batch/":        "https://api.segment.io/v1/batch",
		"https://events.eu1.segmentapis.com":      "https://events.eu1.segmentapis.com/v1/batch",
		"http://127.0.0.1:9000/proxy":             "http://127.0.0.1:9000/proxy/v1/batch",
		"http://127.0.0.1:9000/proxy/v1/batch":    "http://127.0.0.1:9000/proxy/v1/batch",
		"http://127.0.0.1:9000/proxy/v1/batch///": "http://127.0.0.1:9000/proxy/v1/batch",
		// A proxy's token in the query stays in the query.
		"https://proxy.example.com/v1?token=t0k":       "https://proxy.example.com/v1/batch?token=t0k",
		"https://proxy.example.com/?token=t0k":         "https://proxy.example.com/v1/batch?token=t0k",
		"https://proxy.example.com/v1/batch?token=t0k": "https://proxy.example.com/v1/batch?token=t0k",
	} {
		if got := segment.URL(base); got != want {
			t.Errorf("URL(%q) = %q, want %q", base, got, want)
		}
	}
}

func TestBatchSizeIsTheBodySize(t *testing.T) {
	sentAt := time.Date(2030, 1, 2, 3, 4, 5, 678e6, time.UTC)
	for n := 0; n <= 5; n++ {
		var items [][]byte
		total := 0
		for i := 0; i < n; i++ {
			it := bytes.Repeat([]byte("x"), 10+i)
			it = append(append([]byte(`"`), it...), '"')
			items = append(items, it)
			total += len(it)
		}
		body := segment.AppendBatch(nil, items, sentAt)
		if got := segment.BatchSize(n, total); got != len(body) {
			t.Errorf("%d items: BatchSize = %d, body is %d bytes (%s)", n, got, len(body), body)
		}
		if !json.Valid(body) {
			t.Errorf("%d items: body is not JSON: %s", n, body)
		}
	}
	if segment.EnvelopeOverhead != len(segment.AppendBatch(nil, nil, sentAt)) {
		t.Errorf("EnvelopeOverhead = %d", segment.EnvelopeOverhead)
	}
}
