package statsig

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// FlexString is a string field that some senders fill with a number (a
// numeric userID through the HTTP API, say). Numbers are kept as their JSON
// text, so 12345 becomes "12345" without loss; null becomes "".
type FlexString string

// UnmarshalJSON accepts a JSON string, number, boolean or null.
func (s *FlexString) UnmarshalJSON(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	switch b[0] {
	case '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = FlexString(v)
	case 'n':
		*s = ""
	case '{', '[':
		return fmt.Errorf("expected a string, got %s", kindOfJSON(b))
	default:
		*s = FlexString(bytes.TrimSpace(b))
	}
	return nil
}

func kindOfJSON(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// isNull reports whether raw JSON is absent or null.
func isNull(b json.RawMessage) bool {
	b = bytes.TrimSpace(b)
	return len(b) == 0 || string(b) == "null"
}
