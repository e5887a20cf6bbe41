package mappingconfig

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Window is a duration option that reads "24h", "90m" and also a bare 0
// (off): YAML's decoder refuses an integer for a time.Duration, and
// "dedupe_exposures: 0" is the natural way to write "off". It writes itself
// back the way it reads ("24h", "0"), in the config view and preview.
type Window time.Duration

// Duration returns w as a time.Duration.
func (w Window) Duration() time.Duration { return time.Duration(w) }

// String is w as Go writes durations, without zero trailing units.
func (w Window) String() string {
	if w == badWindow {
		return "invalid"
	}
	if w == 0 {
		return "0"
	}
	s := time.Duration(w).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// MarshalText implements encoding.TextMarshaler.
func (w Window) MarshalText() ([]byte, error) { return []byte(w.String()), nil }

// badWindow marks text that is not a duration. UnmarshalText keeps it
// rather than failing, because the YAML decoder would report the error
// without the key; Options.Validate names the key.
const badWindow = Window(math.MinInt64)

// Valid reports whether w was read from a duration.
func (w Window) Valid() bool { return w != badWindow }

// UnmarshalText reads a Go duration ("24h", "1h30m") or "0". A negative
// duration or other text reads as a value that Options.Validate refuses.
func (w *Window) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "0" || s == "" {
		*w = 0
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		*w = badWindow
		return nil
	}
	*w = Window(d)
	return nil
}

// problem returns why w is not a valid window, or "".
func (w Window) problem() string {
	switch {
	case w == badWindow:
		return "not a duration (such as 24h, 30m or 0)"
	case w < 0:
		return fmt.Sprintf("%s must not be negative", w)
	}
	return ""
}
