package statsig

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Signature verification errors.
var (
	ErrSignatureMissing  = errors.New("missing X-Statsig-Signature or X-Statsig-Request-Timestamp header")
	ErrSignatureMismatch = errors.New("X-Statsig-Signature does not match the body")
	ErrStaleTimestamp    = errors.New("X-Statsig-Request-Timestamp is too far from now (replay refused)")
)

// Sign returns Statsig's webhook signature of body: "v0=" + hex HMAC-SHA256
// of "v0:<timestamp>:<body>" keyed with the signing secret. The bridge's own
// webhook destination signs the same way, so receivers verify it alike.
func Sign(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("v0:"))
	mac.Write([]byte(timestamp))
	mac.Write([]byte(":"))
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// VerifySignature checks a Generic Webhook request: the signature over the
// raw body, compared in constant time, and a timestamp (Unix ms) no further
// than tolerance from now, so a captured request cannot be replayed later.
func VerifySignature(secret []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	timestamp, signature = strings.TrimSpace(timestamp), strings.TrimSpace(signature)
	if timestamp == "" || signature == "" {
		return ErrSignatureMissing
	}
	want := Sign(secret, timestamp, body)
	if !hmac.Equal([]byte(want), []byte(signature)) {
		return ErrSignatureMismatch
	}
	ms, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || ms <= 0 {
		// Not after 1970: no sender's clock. A negative "seconds" value
		// would also overflow below into any window.
		return fmt.Errorf("%w: %q is not Unix milliseconds", ErrStaleTimestamp, truncate(timestamp, 20))
	}
	if ms < 1e11 { // seconds, not milliseconds
		ms *= 1000
	}
	skew := now.Sub(time.UnixMilli(ms))
	if skew > tolerance || skew < -tolerance {
		return fmt.Errorf("%w: %s off", ErrStaleTimestamp, skew.Round(time.Second))
	}
	return nil
}

// DecodeWebhook decodes a Generic Webhook batch: the bare array of the docs'
// "Example Batch" or the {"data":[…]} envelope of their signature example.
func DecodeWebhook(body []byte, receivedAt time.Time, maxEvents int) (*Batch, []Rejection, error) {
	body = bytes.TrimSpace(body)
	events := json.RawMessage(body)
	if len(body) > 0 && body[0] == '{' {
		var env struct {
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			return nil, nil, fmt.Errorf("%w: %s", ErrNotJSON, jsonErrText(err))
		}
		if isNull(env.Data) {
			return nil, nil, errors.New(`webhook body has no "data" array`)
		}
		events = env.Data
	}
	if len(events) == 0 || events[0] != '[' {
		if !json.Valid(body) {
			return nil, nil, ErrNotJSON
		}
		return nil, nil, errors.New(`webhook body is neither an array of events nor {"data":[…]}`)
	}
	wire, rejects, err := decodeEvents(events, maxEvents)
	if err != nil {
		return nil, nil, err
	}
	b := &Batch{Source: SourceWebhook, ReceivedAt: receivedAt.UnixMilli(), SDKType: "statsig-webhook"}
	b.Events = make([]Event, 0, len(wire))
	for _, w := range wire {
		ev, reason, detail := w.ev.normalise()
		if reason != "" {
			rejects = append(rejects, Rejection{Index: w.index, Reason: reason, Detail: detail})
			continue
		}
		b.Events = append(b.Events, ev)
	}
	sortRejections(rejects)
	b.assignIDs(body)
	return b, rejects, nil
}
