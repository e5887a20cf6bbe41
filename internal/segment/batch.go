package segment

import "time"

const (
	envelopeHead = `{"batch":[`
	envelopeTail = `],"sentAt":"2006-01-02T15:04:05.000Z"}`
)

// EnvelopeOverhead is the size of a /v1/batch body with no items.
const EnvelopeOverhead = len(envelopeHead) + len(envelopeTail)

// BatchSize returns the size of the /v1/batch body holding items whose
// encoded sizes add up to itemBytes: the envelope plus the commas between
// items (analytics-go forgets the commas and can exceed 500 KB).
func BatchSize(items, itemBytes int) int {
	if items == 0 {
		return EnvelopeOverhead
	}
	return EnvelopeOverhead + itemBytes + items - 1
}

// AppendBatch appends a /v1/batch body holding items. sentAt is the time of
// this attempt: Segment corrects timestamps by receivedAt − sentAt, so a
// stale sentAt on a retry would shift every event.
func AppendBatch(b []byte, items [][]byte, sentAt time.Time) []byte {
	b = append(b, envelopeHead...)
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it...)
	}
	b = append(b, `],"sentAt":"`...)
	b = appendTime(b, sentAt)
	return append(b, `"}`...)
}
