package segment_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/statsig-bridge/statsig-bridge/internal/segment"
)

var appendStringSeeds = []string{
	"", "plain", `quote " and backslash \`, "tab\tnewline\ncr\r", "\x00\x01\x1f\x7f",
	"Grüße 🥨 日本語", "5 ⭐", "<script>&amp;</script>", "line\u2028para\u2029end",
	"bad utf8 \xff\xfe end", "\xc3", "\xed\xa0\x80", // lone surrogate as UTF-8
	"user/020+tag@x", "\uFFFD",
}

// checkAppendString asserts that AppendString wrote one valid JSON string
// that decodes to s (invalid UTF-8 bytes each replaced by U+FFFD).
func checkAppendString(t *testing.T, s string) {
	t.Helper()
	prefix := []byte("x:")
	out := segment.AppendString(prefix, s)
	if string(out[:2]) != "x:" {
		t.Fatalf("AppendString overwrote the buffer's start: %q", out)
	}
	enc := out[2:]
	if !json.Valid(enc) {
		t.Fatalf("AppendString(%q) = %q: not valid JSON", s, enc)
	}
	var got string
	if err := json.Unmarshal(enc, &got); err != nil {
		t.Fatalf("AppendString(%q) = %q: %v", s, enc, err)
	}
	want := string([]rune(s)) // one U+FFFD per invalid byte, as AppendString does
	if got != want {
		t.Fatalf("AppendString(%q) round-trips to %q, want %q", s, got, want)
	}
	if utf8.ValidString(s) && got != s {
		t.Fatalf("valid UTF-8 %q changed to %q", s, got)
	}
	if !utf8.Valid(enc) {
		t.Fatalf("AppendString(%q) = %q: output is not UTF-8", s, enc)
	}
	for _, c := range enc {
		if c < 0x20 {
			t.Fatalf("AppendString(%q) = %q: raw control byte %#x", s, enc, c)
		}
	}
	// JavaScript receivers choke on raw U+2028/U+2029 in JSONP-era parsers.
	if strings.ContainsAny(string(enc), "\u2028\u2029") {
		t.Fatalf("AppendString(%q) = %q: raw U+2028/U+2029", s, enc)
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range appendStringSeeds {
		checkAppendString(t, s)
	}
	for c := 0; c < 256; c++ {
		checkAppendString(t, string([]byte{byte(c)}))
	}
	if got := string(segment.AppendString(nil, "<&>")); got != `"<&>"` {
		t.Errorf("AppendString escapes HTML: %s", got)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range appendStringSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkAppendString(t, s)
	})
}

func sampleTrack() segment.Track {
	return segment.Track{
		MessageID:         "6f1c8a0e-5b7d-5c3e-9a1f-2b3c4d5e6f70",
		Event:             "statsig::experiment_exposure",
		UserID:            "user-001",
		AnonymousID:       "8c1e7d2a-0001",
		Timestamp:         time.Date(2026, 11, 24, 17, 23, 48, 45e6, time.UTC),
		OriginalTimestamp: time.Date(2026, 11, 24, 17, 23, 47, 895e6, time.FixedZone("CET", 3600)),
		Properties:        json.RawMessage(`{"metadata":{"config":"bridge_button_experiment","experimentGroupName":"Control"}}`),
		Context:           json.RawMessage(`{"library":{"name":"statsig-bridge","version":"test"}}`),
	}
}

func TestTrackAppendJSON(t *testing.T) {
	tr := sampleTrack()
	raw := tr.AppendJSON(nil)
	want := `{"type":"track","event":"statsig::experiment_exposure","userId":"user-001","anonymousId":"8c1e7d2a-0001",` +
		`"messageId":"6f1c8a0e-5b7d-5c3e-9a1f-2b3c4d5e6f70","timestamp":"2026-11-24T17:23:48.045Z",` +
		`"originalTimestamp":"2026-11-24T16:23:47.895Z",` +
		`"properties":{"metadata":{"config":"bridge_button_experiment","experimentGroupName":"Control"}},` +
		`"context":{"library":{"name":"statsig-bridge","version":"test"}}}`
	if string(raw) != want {
		t.Fatalf("AppendJSON =\n%s\nwant\n%s", raw, want)
	}

	// Empty fields are left out, never written as "".
	bare := segment.Track{MessageID: "m", Event: "e", AnonymousID: "a"}
	raw = bare.AppendJSON([]byte("prefix"))
	if got := string(raw[len("prefix"):]); got != `{"type":"track","event":"e","anonymousId":"a","messageId":"m"}` {
		t.Fatalf("minimal AppendJSON = %s", got)
	}
}

func FuzzTrackAppendJSON(f *testing.F) {
	f.Add("statsig::gate_exposure", "user-1", "", "id-1")
	f.Add("Grüße 🥨", "", "anon\x00\"", "\xff")
	f.Fuzz(func(t *testing.T, event, userID, anonID, msgID string) {
		tr := sampleTrack()
		tr.Event, tr.UserID, tr.AnonymousID, tr.MessageID = event, userID, anonID, msgID
		raw := tr.AppendJSON(nil)
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("AppendJSON is not valid JSON: %v\n%q", err, raw)
		}
		if m["type"] != "track" || m["event"] != string([]rune(event)) {
			t.Fatalf("type %v event %q, want track %q", m["type"], m["event"], event)
		}
		if _, ok := m["userId"]; ok != (userID != "") {
			t.Fatalf("userId present %v for %q", ok, userID)
		}
	})
}

func TestTrackValidate(t *testing.T) {
	long := strings.Repeat("x", 100)
	tests := []struct {
		name string
		edit func(*segment.Track)
		want error
	}{
		{"valid", func(*segment.Track) {}, nil},
		{"anonymous only", func(tr *segment.Track) { tr.UserID = "" }, nil},
		{"user only", func(tr *segment.Track) { tr.AnonymousID = "" }, nil},
		{"no event", func(tr *segment.Track) { tr.Event = "" }, segment.ErrEventNotDefined},
		{"no IDs", func(tr *segment.Track) { tr.UserID, tr.AnonymousID = "", "" }, segment.ErrNoUserAnonID},
		{"no messageId", func(tr *segment.Track) { tr.MessageID = "" }, segment.ErrMessageIDLength},
		// Segment conformance check 10: 1–99 characters ("fewer than 100",
		// the stricter of Segment's two readings, reference §9.4).
		{"messageId of 99", func(tr *segment.Track) { tr.MessageID = long[:99] }, nil},
		{"messageId of 100", func(tr *segment.Track) { tr.MessageID = long[:100] }, segment.ErrMessageIDLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := sampleTrack()
			tt.edit(&tr)
			if err := tr.Validate(); err != tt.want {
				t.Fatalf("Validate = %v, want %v", err, tt.want)
			}
		})
	}
}

// referenceAppendString is AppendString as it was written before its
// eight-bytes-at-a-time loop, one byte at a time: the fast loop must not
// change a single output byte.
func referenceAppendString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c >= 0x20 && c != '"' && c != '\\':
				b = append(b, c)
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// TestAppendStringMatchesReferenceAtEveryOffset puts each byte value at
// each position of the eight-byte window, so every lane of the word test
// sees every byte.
func TestAppendStringMatchesReferenceAtEveryOffset(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 17; pos++ {
			s := []byte(strings.Repeat("a", 17))
			s[pos] = byte(c)
			checkAppendStringReference(t, string(s))
		}
	}
	for _, s := range appendStringSeeds {
		checkAppendStringReference(t, s)
		checkAppendStringReference(t, "0123456789"+s+"abcdefgh")
	}
}

func checkAppendStringReference(t *testing.T, s string) {
	t.Helper()
	if got, want := segment.AppendString([]byte("x"), s), referenceAppendString([]byte("x"), s); string(got) != string(want) {
		t.Fatalf("AppendString(%q) = %q, reference %q", s, got, want)
	}
}

func FuzzAppendStringReference(f *testing.F) {
	for _, s := range appendStringSeeds {
		f.Add(s)
		f.Add("user-000000000001-3@load.example" + s + "stable-000000000001-3")
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkAppendStringReference(t, s)
	})
}
