package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/server"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// previewLine is one line of preview output.
type previewLine struct {
	Destination string          `json:"destination"`
	Status      string          `json:"status"`
	Reason      string          `json:"reason,omitempty"`
	Note        string          `json:"note,omitempty"`
	Input       string          `json:"input"`
	Message     json.RawMessage `json:"message,omitempty"`
}

// runPreview is a dry run of the pipeline: Statsig events in (a file or
// stdin, in any shape the intakes accept: an SDK request body, gzip or zstd
// included, a webhook batch, an array of events, or JSON lines of any of
// these), the Segment message each destination would send out, one JSON
// line per event and destination. No network, no log.
func runPreview(_ context.Context, env *Env, args []string) error {
	fs := newFlags("preview", env)
	path := fs.String("config", "", "YAML config `file` (default: environment variables)")
	specsPath := fs.String("specs", "", "download_config_specs.json `file` to resolve experiments")
	now := fs.String("received-at", "", "arrival time to assume (RFC 3339 or Unix ms; default now)")
	clientTime := fs.Int64("client-time", 0, "STATSIG-CLIENT-TIME to assume (Unix ms) for clock-skew correction")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return &usageError{"preview reads one file (or - for stdin)"}
	}
	cfg, err := loadConfig(*path, env)
	if err != nil {
		return err
	}
	// The destinations serve would run, and only those: with the
	// environment alone that is the default SQLite warehouse.
	if len(cfg.Destinations) == 0 {
		return &configError{problems: []string{"no destination is configured, so there is nothing to preview: set SEGMENT_WRITE_KEY (or WEBHOOK_URL, STATSIG_TEE=on, BRIDGE_WAREHOUSE), or give --config"}}
	}
	received := time.Now()
	if *now != "" {
		if received, err = parseWhen(*now); err != nil {
			return &usageError{"--received-at: " + err.Error()}
		}
	}
	var specs *statsig.Specs
	if *specsPath != "" {
		raw, err := os.ReadFile(*specsPath)
		if err != nil {
			return fmt.Errorf("reading specs: %w", err)
		}
		if specs, err = statsig.ParseSpecs(raw); err != nil {
			return err
		}
	}
	in := env.Stdin
	name := "stdin"
	if fs.NArg() == 1 && fs.Arg(0) != "-" {
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			return fmt.Errorf("opening input: %w", err)
		}
		defer f.Close()
		in, name = f, fs.Arg(0)
	}
	raw, err := io.ReadAll(io.LimitReader(in, 1<<30))
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	raw, err = server.Decompress(raw, "", false, 1<<30)
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	batches, err := DecodeAny(raw, statsig.RequestInfo{ReceivedAt: received, ClientTime: *clientTime})
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	encoders := make([]destination.Encoder, len(cfg.Destinations))
	states := make([]previewState, len(cfg.Destinations))
	for i, d := range cfg.Destinations {
		enc, err := buildEncoder(buildEnv{Cfg: cfg, Specs: func() *statsig.Specs { return specs }, Logger: newLogger(env.Stderr, "error")}, d)
		if err != nil {
			return &configError{problems: []string{err.Error()}}
		}
		encoders[i] = enc
		states[i] = newPreviewState(d)
	}
	out := bufio.NewWriter(env.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	for _, b := range batches {
		for i := range b.Events {
			e := &b.Events[i]
			for di, d := range cfg.Destinations {
				r := encoders[di].Encode(b, e)
				identify := states[di].apply(e, &r)
				line := previewLine{Destination: d.Name, Input: e.EventName, Reason: r.Reason, Note: r.Note.String()}
				if identify != nil {
					if err := enc.Encode(previewLine{Destination: d.Name, Status: "send", Input: e.EventName, Message: identify}); err != nil {
						return err
					}
				}
				switch {
				case r.Filtered:
					line.Status = "filtered"
				case r.Invalid:
					line.Status = "dead_letter"
					line.Message = r.Payload
				default:
					line.Status = "send"
					line.Message = r.Payload
				}
				if err := enc.Encode(line); err != nil {
					return err
				}
				if r.Extra != nil && line.Status == "send" {
					// A second message for the same event (Experiment Viewed).
					line.Message = r.Extra
					if err := enc.Encode(line); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

func parseWhen(s string) (time.Time, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

// DecodeAny decodes Statsig events in any shape the intakes accept: an SDK
// request body, a webhook batch (bare array or {"data":[…]}), an array of
// events, a single event, or JSON lines of any of those.
func DecodeAny(raw []byte, info statsig.RequestInfo) ([]*statsig.Batch, error) {
	raw = bytes.TrimSpace(raw)
	if b, err := decodeOne(raw, info); err == nil {
		return []*statsig.Batch{b}, nil
	} else if !bytes.Contains(raw, []byte("\n")) {
		return nil, err
	}
	var out []*statsig.Batch
	for n, line := range bytes.Split(raw, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		b, err := decodeOne(line, info)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n+1, err)
		}
		out = append(out, b)
	}
	return out, nil
}

func decodeOne(raw []byte, info statsig.RequestInfo) (*statsig.Batch, error) {
	if !json.Valid(raw) {
		return nil, statsig.ErrNotJSON
	}
	var probe struct {
		Events    json.RawMessage `json:"events"`
		Data      json.RawMessage `json:"data"`
		EventName json.RawMessage `json:"eventName"`
	}
	var b *statsig.Batch
	var rejects []statsig.Rejection
	var err error
	switch {
	case raw[0] == '[' && (bytes.Contains(raw, []byte(`"timeUUID"`)) || bytes.Contains(raw, []byte(`"timestamp"`))):
		b, rejects, err = statsig.DecodeWebhook(raw, info.ReceivedAt, 0)
	case raw[0] == '[':
		b, rejects, err = statsig.DecodeRequest(raw, info)
	case json.Unmarshal(raw, &probe) != nil:
		return nil, statsig.ErrNotJSON
	case len(probe.Data) > 0:
		b, rejects, err = statsig.DecodeWebhook(raw, info.ReceivedAt, 0)
	case len(probe.Events) > 0:
		b, rejects, err = statsig.DecodeRequest(raw, info)
	case len(probe.EventName) > 0:
		b, rejects, err = statsig.DecodeRequest(append(append([]byte("["), raw...), ']'), info)
	default:
		return nil, fmt.Errorf(`not a Statsig event, request body or webhook batch (no "events", "data" or "eventName")`)
	}
	if err != nil {
		return nil, err
	}
	if len(rejects) > 0 {
		return nil, fmt.Errorf("event %d: %s (%s)", rejects[0].Index, rejects[0].Reason, rejects[0].Detail)
	}
	return b, nil
}
