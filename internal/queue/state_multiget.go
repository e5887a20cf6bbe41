package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// multiGetMax is the most keys one batched read asks for: the server
// answers at most 1,024 messages to one request.
const multiGetMax = 1024

// errMultiGetUnsupported says the server cannot read many keys in one
// request (before nats-server 2.11): the caller reads them one by one.
var errMultiGetUnsupported = errors.New("batched direct get not supported by the server")

// found is a key's value as a batched read returned it.
type found struct {
	value   []byte
	created time.Time
}

// getMany reads the current values of keys with JetStream's batched direct
// get (multi_last): one request and a stream of answers per 1,024 keys,
// instead of a request per key. Absent and deleted keys are left out of
// the result.
func (b *Bucket) getMany(ctx context.Context, keys []string) (map[string]found, error) {
	out := make(map[string]found, len(keys))
	for start := 0; start < len(keys); start += multiGetMax {
		if err := b.getChunk(ctx, keys[start:min(start+multiGetMax, len(keys))], out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (b *Bucket) getChunk(ctx context.Context, keys []string, out map[string]found) error {
	nc := b.js.Conn()
	subjects := make([]string, len(keys))
	for i, k := range keys {
		subjects[i] = b.prefix + k
	}
	body, err := json.Marshal(struct {
		MultiLast []string `json:"multi_last"`
	}{subjects})
	if err != nil {
		return err
	}
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return fmt.Errorf("reading keys of %s: %w", b.name, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest("$JS.API.DIRECT.GET.KV_"+b.name, inbox, body); err != nil {
		return fmt.Errorf("reading keys of %s: %w", b.name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		msg, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return fmt.Errorf("reading keys of %s: %w", b.name, err)
		}
		switch status := msg.Header.Get("Status"); status {
		case "":
		case "503": // no stream answers: the bucket is gone
			return fmt.Errorf("reading keys of %s: %w", b.name, nats.ErrNoResponders)
		case "204": // end of batch
			return nil
		case "404": // none of the keys has a value
			return nil
		case "408": // an older server: multi_last is not a field it knows
			return errMultiGetUnsupported
		default:
			return fmt.Errorf("reading keys of %s: status %s %s", b.name, status, msg.Header.Get("Description"))
		}
		switch msg.Header.Get("KV-Operation") {
		case "DEL", "PURGE":
			continue
		}
		key, ok := strings.CutPrefix(msg.Header.Get("Nats-Subject"), b.prefix)
		if !ok {
			continue
		}
		created, err := time.Parse(time.RFC3339Nano, msg.Header.Get("Nats-Time-Stamp"))
		if err != nil {
			return fmt.Errorf("reading keys of %s: time stamp %q: %w", b.name, msg.Header.Get("Nats-Time-Stamp"), err)
		}
		out[key] = found{value: msg.Data, created: created}
	}
}
